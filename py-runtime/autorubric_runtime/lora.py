"""LoRA on the transformer through peft: attach, reference (scale 0), save, load.

- Attach with diffusers' ``transformer.add_adapter(LoraConfig)`` so state-dict keys stay clean
  (``transformer_blocks.0.attn.to_q.lora_A.weight``), not wrapped in a PeftModel.
- The reference policy is the same network with the LoRA scaled to zero
  (``peft.helpers.rescale_adapter_scale(model, 0.0)``): bit-identical to the base model and, unlike
  "disable adapters", it leaves ``requires_grad`` alone, which matters under FSDP.
- Saved in diffusers format (``pytorch_lora_weights.safetensors``, ``transformer.`` key prefix) with
  the adapter metadata in the safetensors header, so ``pipe.load_lora_weights(dir)`` rebuilds the
  same alpha/rank (without metadata diffusers assumes alpha = r and reloads at the wrong strength).
  The header's metadata is rewritten in sorted order, so equal tensors give equal files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
from peft.helpers import rescale_adapter_scale

from autorubric_runtime.run_config import LoraCfg

log = logging.getLogger(__name__)

ADAPTER_NAME = "default"
WEIGHT_NAME = "pytorch_lora_weights.safetensors"
INFO_NAME = "autorubric_lora.json"

#: the reference release's targets (attention projections; also hit FLUX single blocks by suffix).
ATTENTION_TARGETS: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")
#: the wider set of the published adapters / diffusers' FLUX script, plus Qwen-Image's MLPs.
EXTENDED_TARGETS: tuple[str, ...] = ATTENTION_TARGETS + (
    "add_q_proj",
    "add_k_proj",
    "add_v_proj",
    "to_add_out",
    "ff.net.0.proj",
    "ff.net.2",
    "ff_context.net.0.proj",
    "ff_context.net.2",
    "img_mlp.net.0.proj",
    "img_mlp.net.2",
    "txt_mlp.net.0.proj",
    "txt_mlp.net.2",
)


def matches_target(name: str, target: str) -> bool:
    # peft's rule for a plain-string target: the full name or a dotted suffix
    return name == target or name.endswith("." + target)


def resolve_targets(transformer: torch.nn.Module, targets: str | Sequence[str]) -> list[str]:
    """Target suffixes that exist as Linear layers in ``transformer``.

    Presets ("attention", "extended") are filtered silently to what the model has; an explicit list
    must match: an entry that hits no Linear layer raises.
    """
    linear_names = [n for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)]
    if isinstance(targets, str):
        if targets == "attention":
            wanted, strict = ATTENTION_TARGETS, False
        elif targets == "extended":
            wanted, strict = EXTENDED_TARGETS, False
        else:
            raise ValueError(
                f"train.lora.targets: unknown preset {targets!r}; use 'attention', 'extended' or a list of module names"
            )
    else:
        wanted, strict = tuple(targets), True
    found = [t for t in wanted if any(matches_target(n, t) for n in linear_names)]
    missing = [t for t in wanted if t not in found]
    if strict and missing:
        raise ValueError(
            f"train.lora.targets: {missing} match no Linear layer of {type(transformer).__name__}; "
            f"examples of valid names: {sorted({n.split('.')[-1] for n in linear_names})[:12]}"
        )
    if not found:
        raise ValueError(f"train.lora.targets: preset {targets!r} matches no layer of {type(transformer).__name__}")
    return found


def make_lora_config(transformer: torch.nn.Module, lora_cfg: LoraCfg) -> LoraConfig:
    """The peft config of the ``train.lora`` section (rank, alpha, dropout, targets)."""
    return LoraConfig(
        r=lora_cfg.rank,
        lora_alpha=lora_cfg.alpha,
        # the schema keeps it 0: the transformer is in eval mode in rollout, reference and update
        lora_dropout=lora_cfg.dropout,
        init_lora_weights=True,  # B = 0: the first rollout is exactly the base model
        target_modules=resolve_targets(transformer, lora_cfg.targets),
    )


def has_lora(transformer: torch.nn.Module) -> bool:
    return ADAPTER_NAME in (getattr(transformer, "peft_config", None) or {})


def attach_lora(transformer: torch.nn.Module, lora_cfg: LoraCfg | LoraConfig) -> LoraConfig:
    """Attach a fresh LoRA (or the given LoraConfig) and freeze everything but the LoRA weights."""
    config = lora_cfg if isinstance(lora_cfg, LoraConfig) else make_lora_config(transformer, lora_cfg)
    transformer.requires_grad_(False)
    transformer.add_adapter(config, adapter_name=ADAPTER_NAME)  # type: ignore[operator]
    for name, p in transformer.named_parameters():
        if "lora_" in name:
            # fp32 master weights for the trainable part, whatever the base dtype
            p.data = p.data.to(torch.float32)
            p.requires_grad_(True)
    return config


def lora_parameters(transformer: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for n, p in transformer.named_parameters() if "lora_" in n]


@contextlib.contextmanager
def reference_mode(transformer: torch.nn.Module) -> Iterator[None]:
    """The reference policy: LoRA scaled to zero for the duration (requires_grad untouched)."""
    with rescale_adapter_scale(transformer, 0.0):
        yield


def gather_lora_state_dict(transformer: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The full LoRA state dict (clean keys, CPU), gathering shards under FSDP; call on every rank."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(transformer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return lora_state_dict(transformer, full)


def lora_state_dict(
    transformer: torch.nn.Module, state_dict: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """LoRA weights with diffusers keys (adapter name stripped), detached on CPU."""
    sd = get_peft_model_state_dict(transformer, state_dict=state_dict, adapter_name=ADAPTER_NAME)
    return {k: v.detach().to("cpu").contiguous() for k, v in sd.items()}


def _metadata(config: LoraConfig) -> dict[str, Any]:
    meta = config.to_dict()
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in meta.items()}


def save_lora(
    adapter: Any,
    out_dir: str | Path,
    lora_cfg: LoraCfg | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``out_dir/pytorch_lora_weights.safetensors`` (diffusers format + adapter metadata).

    ``state_dict``: an already gathered LoRA state dict (FSDP rank 0 passes the result of
    :func:`gather_lora_state_dict`); by default it is read from the unsharded transformer.
    ``lora_cfg`` (the config section) is recorded in ``autorubric_lora.json`` for provenance.
    """
    transformer = adapter.transformer
    if not has_lora(transformer):
        raise ValueError("save_lora: the transformer has no LoRA attached (call attach_lora first)")
    config: LoraConfig = transformer.peft_config[ADAPTER_NAME]
    sd = state_dict if state_dict is not None else lora_state_dict(transformer)
    sd = {(k[len("transformer.") :] if k.startswith("transformer.") else k): v for k, v in sd.items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    adapter.pipeline_class.save_lora_weights(
        str(out),
        transformer_lora_layers=sd,
        transformer_lora_adapter_metadata=_metadata(config),
        weight_name=WEIGHT_NAME,
    )
    _sort_header_metadata(out / WEIGHT_NAME)
    recorded = dataclasses.asdict(lora_cfg) if lora_cfg is not None else None
    info = {"family": adapter.family, "lora": recorded, "target_modules": sorted(config.target_modules)}
    (out / INFO_NAME).write_text(json.dumps(info, indent=2, default=str))
    return out


def _sort_header_metadata(path: Path) -> None:
    """Rewrite a safetensors header with its metadata keys sorted, the tensors' entries unchanged.

    safetensors keeps the metadata in a hash map whose order changes from one save to the next
    (``format`` and ``lora_adapter_metadata`` swap places), so two saves of the same tensors gave
    different bytes. Data offsets are relative to the end of the header, so the tensor bytes stay.
    """
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    meta = header.pop("__metadata__", None)
    ordered = ({"__metadata__": dict(sorted(meta.items()))} if meta is not None else {}) | header
    text = json.dumps(ordered, separators=(",", ":")).encode("utf8")
    text += b" " * (-len(text) % 8)  # the format pads the header with spaces to 8-byte alignment
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + size :])


def _read_lora_dir(lora_dir: Path) -> tuple[dict[str, torch.Tensor], LoraConfig]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    diffusers_file = lora_dir / WEIGHT_NAME
    peft_file = lora_dir / "adapter_model.safetensors"
    if diffusers_file.is_file():
        sd = load_file(str(diffusers_file))
        with safe_open(str(diffusers_file), framework="pt") as f:
            raw = (f.metadata() or {}).get("lora_adapter_metadata")
        if not raw:
            raise ValueError(
                f"{diffusers_file}: no lora_adapter_metadata in the safetensors header; without it alpha "
                "is unknown. Re-save with autorubric (save_lora) or load it with pipe.load_lora_weights."
            )
        meta = {k[len("transformer.") :]: v for k, v in json.loads(raw).items() if k.startswith("transformer.")}
        sd = {k[len("transformer.") :]: v for k, v in sd.items() if k.startswith("transformer.")}
    elif peft_file.is_file() and (lora_dir / "adapter_config.json").is_file():
        # the PEFT folder format of the release and its published adapters
        sd = load_file(str(peft_file))
        sd = {k.removeprefix("base_model.model."): v for k, v in sd.items()}
        meta = json.loads((lora_dir / "adapter_config.json").read_text())
    else:
        raise FileNotFoundError(
            f"{lora_dir}: no {WEIGHT_NAME} (diffusers format) nor adapter_model.safetensors + adapter_config.json "
            "(PEFT format); point --lora at a directory written by `arr train` (checkpoints/<step>/lora)"
        )
    fields = {f.name for f in dataclasses.fields(LoraConfig)}
    kwargs = {k: v for k, v in meta.items() if k in fields and k not in ("peft_type", "task_type", "runtime_config")}
    if isinstance(kwargs.get("target_modules"), list):
        kwargs["target_modules"] = list(kwargs["target_modules"])
    return sd, LoraConfig(**kwargs)


def load_lora(adapter: Any, lora_dir: str | Path) -> LoraConfig:
    """Load LoRA weights from ``lora_dir`` into ``adapter.transformer``.

    Resume: a LoRA is already attached, the weights are copied into it (its config must match).
    Sampling: no LoRA attached yet, one is attached from the file's metadata first. Every key of the
    file must land; a mismatch raises instead of silently sampling the base model.
    """
    transformer = adapter.transformer
    sd, config = _read_lora_dir(Path(lora_dir))
    if not has_lora(transformer):
        attach_lora(transformer, config)
    else:
        current: LoraConfig = transformer.peft_config[ADAPTER_NAME]
        if current.r != config.r or set(current.target_modules) != set(config.target_modules):
            raise ValueError(
                f"{lora_dir}: LoRA rank/targets ({config.r}, {sorted(config.target_modules)}) differ from the "
                f"attached adapter ({current.r}, {sorted(current.target_modules)}); use the same train.lora settings"
            )
    device = next(transformer.parameters()).device
    sd = {k: v.to(device=device, dtype=torch.float32) for k, v in sd.items()}
    result = set_peft_model_state_dict(transformer, sd, adapter_name=ADAPTER_NAME)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing = [k for k in (getattr(result, "missing_keys", []) or []) if "lora_" in k]
    if unexpected or missing:
        raise ValueError(
            f"{lora_dir}: LoRA keys do not match the model (unexpected {unexpected[:4]}, missing {missing[:4]}); "
            "was it trained for another model family or size?"
        )
    log.info("loaded LoRA from %s (%d tensors)", lora_dir, len(sd))
    return config
