"""The torchrun entry point: ``python -m autorubric_runtime.worker --config run.json``.

One process per GPU (or CPU worker). It loads the run JSON, joins the process group, builds the
adapter and attaches the LoRA, resumes when asked, then loops over rollout steps until
``max_steps`` optimizer updates or until the reward service's ``/v1/control`` says stop (then it
checkpoints and exits 0). It writes the candidates being judged as PNG files under
``<run>/samples/`` (a small rolling window), posts per-update metrics (rank 0, reduced over ranks),
checkpoints every ``checkpoint_every`` updates and at the end, and writes base-vs-current grids
every ``eval_every`` updates. Any exception is logged with its traceback on stderr and the process
exits non-zero, so torchrun tears the group down instead of leaving ranks hanging in collectives.
Logs go to stderr only.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import io
import json
import logging
import math
import random
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from autorubric_runtime import distributed as D
from autorubric_runtime import lifeline
from autorubric_runtime.checkpoint import load_model_weights, restore_training_state, resume_checkpoint, save_checkpoint
from autorubric_runtime.diversity import latent_spread
from autorubric_runtime.launch import LAUNCHER_PID
from autorubric_runtime.reward_client import AuthError, RewardFn, ServiceClient, ServiceReward
from autorubric_runtime.run_config import RunCfg, RunConfigError, load_run_config
from autorubric_runtime.trainer import PromptRow, TrainState, build_train_state, train_step

log = logging.getLogger("autorubric_runtime.worker")

EXIT_FAILURE = 1
# Seed j > 0 of an eval prompt (diversity) is offset by j x this prime from the prompt's grid seed.
EVAL_SEED_STRIDE = 7919
EXIT_CONFIG = 2


# ----------------------------------------------------------------------------- files


def read_prompts(path: Path) -> list[PromptRow]:
    """``prompts.jsonl`` as TypeScript writes it: ``{prompt, source_image?}`` per line."""
    if not path.is_file():
        raise RunConfigError(f"{path}: prompts file not found (arr train writes it into the run directory)")
    rows: list[PromptRow] = []
    for n, line in enumerate(path.read_text(encoding="utf8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise RunConfigError(f"{path}:{n}: not valid JSON ({error.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
            raise RunConfigError(f'{path}:{n}: expected {{"prompt": str, "source_image"?: str}}')
        src = item.get("source_image")
        if src is not None and not isinstance(src, str):
            raise RunConfigError(f"{path}:{n}: source_image must be a path string or null")
        rows.append(PromptRow(item["prompt"], src))
    if not rows:
        raise RunConfigError(f"{path}: no prompts")
    return rows


def to_pil(image: Tensor):
    """(3, H, W) float in [0, 1] -> PIL RGB."""
    from PIL import Image

    arr = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr, "RGB")


class SampleWriter:
    """PNG files of the candidates being judged, keeping only the last ``keep`` batches (disk).

    With ``upload`` (a node that does not share node 0's run directory) each file is also uploaded
    to the reward service, and the judge reads node 0's copy, which is pruned along with the local one.
    """

    def __init__(self, directory: Path, keep: int = 8, upload: ServiceClient | None = None) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.upload = upload
        self.batches: collections.deque[list[Path]] = collections.deque()

    def __call__(self, pixels: Tensor, names: list[str]) -> list[str]:
        paths = []
        for image, name in zip(pixels, names, strict=True):
            path = self.directory / name
            to_pil(image).save(path)
            paths.append(path)
        self.batches.append(paths)
        if self.upload is not None:
            return [self.upload.upload_sample(path) for path in paths]
        return [str(path.resolve()) for path in paths]

    def prune(self) -> None:
        """Called after a step, when every verdict on its files is in."""
        while len(self.batches) > self.keep:
            for path in self.batches.popleft():
                path.unlink(missing_ok=True)
                if self.upload is not None:
                    self.upload.delete_sample(path.name)


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf: the service would reject the whole body."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


# ----------------------------------------------------------------------------- evaluation grid


def write_eval_grid(state: TrainState, out_dir: Path) -> dict[str, Any] | None:
    """Base (LoRA scaled to zero) vs current on the eval prompts with fixed seeds; one PNG per eval.

    Prompts are sharded over ranks (padded so every rank runs the same forwards); the tiles travel
    to rank 0 as PNG bytes (nodes need not share a disk), which assembles the grid, keeps the
    per-prompt base/current tiles in ``eval-<update>/`` for the controller's win rate and the report,
    and returns the ``eval`` event's data; other ranks return None.
    With ``health.diversity.seeds`` > 1 each prompt is also sampled at more seeds (latents only, no
    decode) and the event's ``spread`` holds, per prompt, the latents' spread across seeds for the
    base and the current model (:func:`latent_spread`); otherwise ``spread`` is None.
    Uses its own generators, so it never perturbs the training RNG streams (exact resume).
    """
    from PIL import Image, ImageDraw

    from autorubric_runtime.sampler import rollout

    cfg, info, ad = state.cfg, state.info, state.adapter
    prompts = list(cfg.eval_prompts)
    tiles_here: dict[str, bytes] = {}
    spreads_here: dict[int, dict[str, float]] = {}
    indices = D.shard(list(range(len(prompts))), info)
    L, Ch = ad.latent_shape
    # Editing needs a source image per eval instruction: the dataset's rows in file order, cycled.
    sources = [row.source_image for row in state.data.rows] if cfg.judge_task == "edit" else []
    seeds = cfg.health.diversity.seeds
    for k, gi in enumerate(indices):
        cond = ad.encode([prompts[gi]], [sources[gi % len(sources)]] if sources else None)
        kept = k == indices.index(gi)  # padding repeats are computed (collectives) but not kept
        spread: dict[str, float] = {}
        for label in ("base", "lora"):
            judged_latents = []
            # Seed 0 is the grid's (and the win rate's) image; the others only measure the spread.
            for j in range(seeds):
                gen = torch.Generator().manual_seed(cfg.sampler.seed + 1_000_003 * (gi + 1) + EVAL_SEED_STRIDE * j)
                init = torch.randn((1, L, Ch), generator=gen).to(info.device)
                with torch.no_grad(), state.autocast():
                    ctx = state.reference_mode() if label == "base" else contextlib.nullcontext()
                    with ctx:
                        ro = rollout(ad, cond, cfg.sampler, gen, init_noise=init)
                    judged = ro.x0_last if cfg.sampler.judged_image == "x0_last" else ro.final
                    judged_latents.append(judged[0].float().cpu())
                    if j == 0 and kept:
                        png = io.BytesIO()
                        to_pil(ad.decode(judged).float().clamp(0, 1).cpu()[0]).save(png, format="PNG")
                        tiles_here[f"{gi}-{label}"] = png.getvalue()
            spread[label] = latent_spread(torch.stack(judged_latents))
        if kept:
            spreads_here[gi] = spread
    gathered: dict[str, bytes] = {}
    spreads: dict[int, dict[str, float]] = {}
    for part in D.all_gather_object((tiles_here, spreads_here), info):
        gathered.update(part[0])  # type: ignore[index]
        spreads.update(part[1])  # type: ignore[index]
    if not info.is_main:
        return None
    parts = out_dir / f"eval-{state.update:06d}"
    parts.mkdir(parents=True, exist_ok=True)
    for key, png in gathered.items():
        (parts / f"{key}.png").write_bytes(png)
    tile = {key: Image.open(io.BytesIO(png)) for key, png in gathered.items()}
    tiles = [(tile[f"{i}-base"], tile[f"{i}-lora"]) for i in range(len(prompts))]
    h, wd = tiles[0][0].height, tiles[0][0].width
    label_w = 160
    # The whole prompt, wrapped to the label column (the default font is about 6 px per character).
    wrapped = ["\n".join(textwrap.wrap(p, 26)) for p in prompts]
    heights = [max(h, 12 * (text.count("\n") + 1) + 4) for text in wrapped]
    grid = Image.new("RGB", (label_w + 2 * wd, 14 + sum(heights)), "white")
    draw = ImageDraw.Draw(grid)
    draw.text((label_w + 2, 1), "base", fill="black")
    draw.text((label_w + wd + 2, 1), f"update {state.update}", fill="black")
    y = 14
    for (base, cur), text, row_h in zip(tiles, wrapped, heights, strict=True):
        draw.multiline_text((2, y + 2), text, fill="black", spacing=2)
        grid.paste(base, (label_w, y))
        grid.paste(cur, (label_w + wd, y))
        y += row_h
    path = out_dir / f"eval-{state.update:06d}.png"
    grid.save(path)
    rows = [_finite(spreads[i]) for i in range(len(prompts))]
    event = {
        "update": state.update,
        "grid": str(path.resolve()),
        "prompts": prompts,
        "base": [str((parts / f"{i}-base.png").resolve()) for i in range(len(prompts))],
        "current": [str((parts / f"{i}-lora.png").resolve()) for i in range(len(prompts))],
        "source_images": [sources[i % len(sources)] for i in range(len(prompts))] if sources else None,
        "spread": {"base": [r["base"] for r in rows], "current": [r["lora"] for r in rows]} if seeds > 1 else None,
    }
    (out_dir / f"eval-{state.update:06d}.json").write_text(json.dumps(event, indent=2))
    return event


# ----------------------------------------------------------------------------- the run


def seed_everything(seed: int, rank: int) -> None:
    random.seed(seed + rank)
    np.random.seed((seed + rank) % 2**32)
    torch.manual_seed(seed + rank)


def build_state(
    cfg: RunCfg, info: D.DistInfo, reward: RewardFn, writer: SampleWriter | None
) -> tuple[TrainState, Path | None]:
    """Adapter + LoRA (+ resume weights) -> wrapped train state; returns the checkpoint to restore from."""
    from autorubric_runtime.lora import attach_lora, load_lora
    from autorubric_runtime.models.base import load_adapter

    model_cfg = cfg.model
    if cfg.distributed.strategy == "fsdp" and info.active and model_cfg.dtype == "auto":
        # FSDP1 flattens each block into one tensor of one dtype, and the LoRA is fp32: keep the base in
        # fp32 too and let FSDP mixed precision compute in bf16 (the usual FSDP recipe)
        model_cfg = dataclasses.replace(model_cfg, dtype="float32")
    with D.local_rank_zero_first(info):  # a tiny model is built once into each node's cache
        adapter = load_adapter(model_cfg, cfg.sampler, info.device)
    attach_lora(adapter.transformer, cfg.lora)
    if cfg.gradient_checkpointing and hasattr(adapter.transformer, "enable_gradient_checkpointing"):
        adapter.transformer.enable_gradient_checkpointing()
    # a group torchrun restarted after a crash continues from the latest checkpoint, like --resume
    resume = cfg.resume or D.restart_count() > 0
    ckpt = resume_checkpoint(Path(cfg.run_dir) / "checkpoints", info) if resume else None
    if resume and ckpt is None and info.is_main:
        log.warning("resume requested but %s/checkpoints has no checkpoint yet; starting from update 0", cfg.run_dir)
    if ckpt is not None and info.is_main:  # the other ranks get these weights when DDP/FSDP wraps the model
        load_model_weights(ckpt, adapter.transformer)
    elif cfg.lora.init_from:
        load_lora(adapter, cfg.lora.init_from)
    rows = read_prompts(cfg.prompts_path)
    state = build_train_state(cfg, adapter, info, reward, rows, write_images=writer)
    if ckpt is not None:
        restore_training_state(ckpt, state)
    return state, ckpt


def run(cfg: RunCfg, reward: RewardFn | None = None, client: ServiceClient | None = None) -> int:
    """Train until max_steps or a stop; returns the exit code. ``reward``/``client`` are injectable for tests."""
    info = D.init_distributed(cfg.distributed.backend, node_rank=cfg.distributed.node_rank)
    _configure_logging(info.rank)
    try:
        seed_everything(cfg.seed, info.rank)
        if client is None and cfg.service.url:
            if not cfg.service.token:
                raise AuthError("no reward-service token: set ARR_SERVICE_TOKEN (arr train does) or service.token")
            client = ServiceClient(cfg.service.url, cfg.service.token, worker_rank=info.rank)
        if client is not None:
            client.control()  # fail fast on a wrong token or an unreachable service, before loading the model
        if reward is None:
            if client is None:
                raise RunConfigError("run.json has no service.url and no in-process reward was given")
            reward = ServiceReward(client)
        run_dir = Path(cfg.run_dir)
        # with a pipeline, the files of the batch in flight are still being judged after a step
        keep = max(4, 2 * cfg.grad_accum) + cfg.prompts_per_gpu * cfg.pipeline.depth
        # a node without node 0's run directory uploads its samples: the judge on node 0 must read them
        remote = client is not None and cfg.distributed.node_rank != 0 and not cfg.distributed.shared_run_dir
        writer = SampleWriter(run_dir / "samples", keep=keep, upload=client if remote else None)
        state, ckpt = build_state(cfg, info, reward, writer if client is not None else None)
        ckroot = run_dir / "checkpoints"
        saved = state.update if ckpt is not None else -1
        if info.is_main and client is not None:
            client.post_event(
                "started",
                {
                    "update": state.update,
                    "world_size": info.world_size,
                    "resumed": ckpt is not None,
                    "restart": D.restart_count(),
                },
            )
        # nothing is judged before the controller knows which updates are redone (it drops their old rows)
        D.barrier(info)
        stop_reason: str | None = None
        while state.update < cfg.max_steps:
            result = train_step(state)
            writer.prune()
            if not result.updated:
                continue
            if info.is_main and client is not None:
                client.post_metrics(state.update, _finite(result.metrics))
            if info.is_main:
                log.info("update %d/%d %s", state.update, cfg.max_steps, _brief(result.metrics))
            if cfg.eval_every and cfg.eval_prompts and state.update % cfg.eval_every == 0:
                evaluated = write_eval_grid(state, run_dir / "grids")
                if evaluated is not None and client is not None:
                    client.post_event("eval", evaluated)
            if state.update % cfg.checkpoint_every == 0:
                saved = _checkpoint(state, ckroot, client)
            stop_reason = _poll_stop(client, info)
            if stop_reason is not None:
                log.info("stop requested (%s) at update %d", stop_reason, state.update)
                break
        if saved != state.update:  # the final state is always saved (the reference never saves its last update)
            _checkpoint(state, ckroot, client)
        if info.is_main and client is not None:
            client.post_event("finished", {"update": state.update, "stop_reason": stop_reason})
        return 0
    finally:
        D.destroy(info)


def _checkpoint(state: TrainState, root: Path, client: ServiceClient | None) -> int:
    path = save_checkpoint(state, root)
    if state.info.is_main and client is not None:
        client.post_event("checkpoint", {"path": str(path.resolve()), "update": state.update})
    return state.update


def _poll_stop(client: ServiceClient | None, info: D.DistInfo) -> str | None:
    """Rank 0 asks the service; every rank gets the same answer (they must stop at the same update)."""
    reason: str | None = None
    if info.is_main and client is not None:
        stop, why = client.control()
        reason = (why or "stop requested") if stop else None
    return D.broadcast_object(reason, info)  # type: ignore[return-value]


def _brief(m: dict[str, Any]) -> str:
    keys = (
        "reward_mean",
        "loss",
        "kl_ref",
        "ratio_mean",
        "clip_frac",
        "grad_norm",
        "staleness",
        "decided",
        "failed",
        "time_step",
    )
    return " ".join(f"{k}={m[k]:.4g}" if isinstance(m.get(k), float) else f"{k}={m.get(k)}" for k in keys)


class _RankFilter(logging.Filter):
    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.rank
        return True


def _configure_logging(rank: int) -> None:
    root = logging.getLogger("autorubric_runtime")
    if any(getattr(h, "_arr_worker", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._arr_worker = True  # type: ignore[attr-defined]
    handler.addFilter(_RankFilter(rank))
    handler.setFormatter(logging.Formatter("[rank %(rank)s] %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autorubric_runtime.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run.json written by `arr train`")
    args = parser.parse_args(argv)
    lifeline.bind_from_env(LAUNCHER_PID)  # torchrun starts workers in new sessions: die with it
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        cfg = load_run_config(args.config)
    except RunConfigError as error:
        log.error("%s", error)
        return EXIT_CONFIG
    try:
        code = run(cfg)
    except AuthError as error:
        log.error("%s", error)
        return EXIT_FAILURE
    except BaseException:  # noqa: BLE001 - anything, KeyboardInterrupt included: traceback, then non-zero
        log.exception("worker failed")
        return EXIT_FAILURE
    log.info("worker finished in %.1fs", time.monotonic() - started)
    return code


if __name__ == "__main__":
    sys.exit(main())
