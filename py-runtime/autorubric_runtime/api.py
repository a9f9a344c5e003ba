"""JSON-safe operations for the TypeScript bridge (facade.py dispatches to ``OPS``).

Every op takes one dict of JSON values and returns JSON values; images travel as file paths.

``sample`` semantics (what `arr sample` documents):
- The args are a :class:`~autorubric_runtime.run_config.SampleRequest` (every field required, built
  by ``src/runtime/sample.ts``): the ``train`` section's ``model`` and ``sampler``, the LoRA
  directory or null, prompts, seeds, output folder, source images, layout, images per prompt.
  Sampling uses the same static schedule and SDE as training with ``sampler.eta`` (so images come
  from the trained distribution; ``eta`` 0 is the deterministic Euler sampler).
- Image j of prompt i starts from a generator seeded with ``seeds[i] + j``; the same seed gives the
  same image for the same model and device. The judged latent (``sampler.judged_image``: ``x0_last``
  or ``final``) is what gets decoded.
- ``layout: "flat"`` writes ``<out>/<i:05d>_<j:02d>.png`` plus ``index.jsonl``; ``layout: "geneval"``
  writes GenEval's evaluator layout ``<out>/<i:05d>/metadata.jsonl`` (the prompt's metadata line)
  and ``<out>/<i:05d>/samples/<j:04d>.png``. For GenEval a prompt may be a metadata dict (with a
  ``prompt`` key) or its JSON line.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


def versions(_args: dict[str, Any] | None = None) -> dict[str, Any]:
    import diffusers
    import peft
    import transformers

    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "cuda": cuda,
        "cuda_version": torch.version.cuda,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
    }


def build_tiny(args: dict[str, Any]) -> dict[str, Any]:
    """``{family, out_dir?}`` -> ``{path}``: the tiny model folder (built once under out_dir or the cache)."""
    from autorubric_runtime.models.tiny import ensure_tiny

    family = args.get("family", "flux")
    path = ensure_tiny(family, cache_dir=args.get("out_dir"), seed=int(args.get("seed", 0)))
    return {"path": str(path)}


def _prompt_entries(prompts: list[Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """(prompt text, GenEval metadata or None) per entry; entries are strings, dicts or JSON lines."""
    out: list[tuple[str, dict[str, Any] | None]] = []
    for i, p in enumerate(prompts):
        meta: Any = None
        if isinstance(p, dict):
            meta = p
        elif isinstance(p, str) and p.lstrip().startswith("{"):
            try:
                meta = json.loads(p)
            except json.JSONDecodeError as err:
                raise ValueError(f"prompts[{i}]: looks like JSON but does not parse ({err})") from err
        if meta is not None:
            text = meta.get("prompt") if isinstance(meta, dict) else None
            if not isinstance(text, str) or not text:
                raise ValueError(f"prompts[{i}]: metadata has no 'prompt' string; GenEval lines carry one")
            out.append((text, meta))
        elif isinstance(p, str) and p.strip():
            out.append((p, None))
        else:
            raise ValueError(f"prompts[{i}]: expected a non-empty string or a metadata object, got {p!r}")
    return out


def _save_png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    arr = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def sample(args: dict[str, Any]) -> dict[str, Any]:
    """Generate images with fixed seeds from the base model or a trained LoRA (see module docstring)."""
    from autorubric_runtime.lora import load_lora
    from autorubric_runtime.models.base import load_adapter
    from autorubric_runtime.run_config import SampleRequest, parse_payload
    from autorubric_runtime.sampler import rollout

    req = parse_payload(SampleRequest, args)
    if not req.prompts:
        raise ValueError("sample: prompts is empty")
    entries = _prompt_entries(list(req.prompts))
    if len(req.seeds) != len(entries):
        raise ValueError(f"sample: {len(req.seeds)} seeds for {len(entries)} prompts; give one seed per prompt")
    sources = req.source_images
    if sources is not None and len(sources) != len(entries):
        raise ValueError(f"sample: {len(sources)} source_images for {len(entries)} prompts")
    out_dir = Path(req.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    adapter = load_adapter(req.model, req.sampler)
    if req.lora_dir:
        load_lora(adapter, req.lora_dir)
    adapter.transformer.eval()

    paths: list[str] = []
    index_lines: list[str] = []
    for i, (text, meta) in enumerate(entries):
        src = [sources[i]] if sources is not None else None
        cond = adapter.encode([text], src)
        for j in range(req.images_per_prompt):
            seed = req.seeds[i] + j
            ro = rollout(adapter, cond, req.sampler, torch.Generator().manual_seed(seed))
            image = adapter.decode(ro.judged(req.sampler.judged_image))[0]
            if req.layout == "geneval":
                folder = out_dir / f"{i:05d}"
                path = folder / "samples" / f"{j:04d}.png"
                if j == 0:
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / "metadata.jsonl").write_text(
                        json.dumps(meta if meta is not None else {"prompt": text}) + "\n"
                    )
            else:
                path = out_dir / f"{i:05d}_{j:02d}.png"
                index_lines.append(json.dumps({"prompt": text, "seed": seed, "image": path.name}))
            _save_png(image, path)
            paths.append(str(path))
    if req.layout == "flat":
        (out_dir / "index.jsonl").write_text("\n".join(index_lines) + "\n")
    return {"images": paths}


def count_parameters(args: dict[str, Any]) -> dict[str, Any]:
    """Exact parameter counts of model components built on the meta device (see plan.py)."""
    from autorubric_runtime.plan import count_parameters as count

    return count(args)


OPS = {"versions": versions, "sample": sample, "build_tiny": build_tiny, "count_parameters": count_parameters}
