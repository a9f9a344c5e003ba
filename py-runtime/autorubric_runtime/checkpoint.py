"""Checkpoints that resume exactly: ``<run>/checkpoints/checkpoint-<update>/`` and a ``latest`` pointer.

A checkpoint holds

- ``lora/``: the LoRA in diffusers format with its adapter metadata (``pipe.load_lora_weights``);
- ``trainable.safetensors``: the exact trainable tensors by parameter name (what resume loads,
  before the model is wrapped, so DDP and FSDP start from the same bits);
- ``optimizer-rank<r>.pt``, ``rng-rank<r>.pt``: every rank's optimizer state (FSDP shards it) and
  RNG states (torch CPU/CUDA, numpy, python, the sampling and timestep-selection generators);
- ``scheduler.pt`` and ``state.json``: LR scheduler, counters (updates, outer steps, judged totals),
  the data position, world size and strategy;
- ``pending-rank<r>.pt``: with ``train.pipeline.depth`` 1, the batch sampled but not yet trained
  (trajectories, old log-probs, reference means, judge request). The uninterrupted run trains it
  with the weights after this checkpoint, so the resumed run must too: it cannot be re-sampled
  (the sampling weights are gone), it is judged again instead.

Several nodes need no shared filesystem (``distributed.shared_run_dir: false``): every node has its
own run directory, and every rank writes its own files into its node's copy; rank 0 (always on node
0) adds the model files, and each node's local rank 0 writes ``scheduler.pt`` and ``state.json``
(identical on every rank) and finalizes its node's folder. Node 0 thus holds the complete model and
its own ranks' state, every other node its ranks' state. A resume continues from node 0's
``latest``; every rank then reads its own files from its node's copy of that checkpoint, and the
model reaches the other ranks from rank 0 when DDP/FSDP wraps it. With a shared run directory only
rank 0 finalizes the one folder.

Writes are atomic: everything goes into ``.tmp-checkpoint-<update>`` and is renamed when complete,
then ``latest`` is replaced (write + rename), so a crash mid-save leaves the previous checkpoint
intact and ``latest`` never points at a partial one. A save that fails (a full disk) removes its
temp folder and raises :class:`CheckpointError` naming the file and the error; the next successful
save also clears any temp folder a killed save left. After each save only the last
``keep_checkpoints`` checkpoints are kept, plus the one at the latest evaluation grid.
Checkpoints happen only at update boundaries.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from autorubric_runtime import distributed as D
from autorubric_runtime.batch import batch_from_dict, batch_to_dict
from autorubric_runtime.trainer import TrainState, encoder

log = logging.getLogger("autorubric_runtime.checkpoint")

FORMAT = "autorubric.checkpoint"
VERSION = 1
LATEST = "latest"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, partial, or does not fit the current run."""


def _rng_state(state: TrainState) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "sample_gen": state.sample_gen.get_state(),
        "select_gen": state.select_gen.get_state(),
    }


def _set_rng_state(state: TrainState, rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    state.sample_gen.set_state(rng["sample_gen"])
    state.select_gen.set_state(rng["select_gen"])


def save_checkpoint(state: TrainState, root: str | Path) -> Path:
    """Save the state at an update boundary; every rank must call it. Returns the checkpoint dir."""
    if state.micro != 0:
        raise CheckpointError(f"checkpoint requested mid-window (outer step {state.micro} of {state.cfg.grad_accum})")
    info = state.info
    leader = leads_folder(state)
    root = Path(root)
    final = root / f"checkpoint-{state.update}"
    tmp = root / f".tmp-checkpoint-{state.update}"
    if leader and tmp.exists():
        shutil.rmtree(tmp)
    D.barrier(info)
    trainable = D.trainable_state(state.model, info)  # collective under FSDP
    # every rank writes its own files, so every rank makes the folder (nodes need not share a disk)
    failure = _guarded(tmp, lambda: _write_rank_files(state, tmp, trainable, leader))
    # one rank's failure is every rank's: they must all stop at the same point, not in a collective
    failures = [f for f in D.all_gather_object(failure, info) if f is not None]
    if failures:
        if leader:
            shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"checkpoint at update {state.update} not written: {failures[0]}")
    if leader:
        if final.exists():  # the same update saved twice (periodic, then final): keep the newer copy
            shutil.rmtree(final)
        os.replace(tmp, final)
        pointer = root / f".{LATEST}.tmp"
        pointer.write_text(final.name + "\n")
        os.replace(pointer, root / LATEST)
        log.info("checkpoint %s", final)
        prune_checkpoints(root, keep=state.cfg.keep_checkpoints, eval_every=state.cfg.eval_every)
    D.barrier(info)
    return final


def leads_folder(state: TrainState) -> bool:
    """Whether this rank finalizes its run directory's checkpoint folder (one rank per directory)."""
    return state.info.rank == 0 if state.cfg.distributed.shared_run_dir else state.info.local_rank == 0


def _guarded(tmp: Path, write: Any) -> str | None:
    """Run ``write``; an OSError becomes its message naming the file (ENOSPC included), else None."""
    try:
        write()
    except OSError as error:
        name = errno.errorcode.get(error.errno or 0, "OSError")
        where = error.filename or tmp
        return f"cannot write {where}: {name} ({error.strerror or error})"
    return None


def _write_rank_files(state: TrainState, tmp: Path, trainable: dict[str, torch.Tensor] | None, leader: bool) -> None:
    info = state.info
    tmp.mkdir(parents=True, exist_ok=True)
    _save(state.optimizer.state_dict(), tmp / f"optimizer-rank{info.rank}.pt")
    _save(_rng_state(state), tmp / f"rng-rank{info.rank}.pt")
    _save([batch_to_dict(b) for b in state.pending], tmp / f"pending-rank{info.rank}.pt")
    if info.is_main:
        assert trainable is not None
        target = tmp / "trainable.safetensors"
        try:
            save_file({k: v.contiguous() for k, v in trainable.items()}, str(target))
        except OSError as error:
            error.filename = error.filename or str(target)
            raise
        _save_lora(state, tmp / "lora", trainable)
    if leader:  # the same on every rank: one copy per run directory
        _save(state.scheduler.state_dict(), tmp / "scheduler.pt")
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "update": state.update,
            "outer_step": state.outer,
            "data_position": state.data.position,
            "world_size": info.world_size,
            "strategy": state.cfg.distributed.strategy,
            "totals": state.totals,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / "state.json").write_text(json.dumps(meta, indent=2))


def _save(obj: Any, path: Path) -> None:
    """``torch.save``, whose OSErrors (a full disk) name the file."""
    try:
        torch.save(obj, path)
    except OSError as error:
        error.filename = error.filename or str(path)
        raise
    except RuntimeError as error:  # torch wraps some write failures (e.g. a short write) in RuntimeError
        raise OSError(errno.EIO, str(error), str(path)) from error


def prune_checkpoints(root: Path, keep: int, eval_every: int) -> list[Path]:
    """Remove old checkpoints and stale temp folders; returns what was removed.

    Kept: the last ``keep`` checkpoints (all when 0) and the latest one at an evaluation update
    (a multiple of ``eval_every``), whose grid shows what it learnt. Temp folders are left by saves
    that were killed or failed; a complete save has just succeeded, so none is in use.
    """
    removed = [p for p in root.glob(".tmp-checkpoint-*") if p.is_dir()]
    done = sorted(
        (int(p.name.removeprefix("checkpoint-")), p)
        for p in root.glob("checkpoint-*")
        if p.is_dir() and p.name.removeprefix("checkpoint-").isdigit()
    )
    if keep > 0:
        kept = {u for u, _ in done[-keep:]}
        evals = [u for u, _ in done if eval_every and u % eval_every == 0]
        kept.update(evals[-1:])
        removed += [p for u, p in done if u not in kept]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _save_lora(state: TrainState, out: Path, trainable: dict[str, torch.Tensor]) -> None:
    from autorubric_runtime import lora

    adapter = state.adapter
    if D.is_fsdp(state.model):
        # peft matches keys against module names, which FSDP prefixes; the gathered names are already
        # clean, so dropping the adapter name gives the same keys peft produces without FSDP
        tag = f".{lora.ADAPTER_NAME}."
        sd = {k.replace(tag, "."): v for k, v in trainable.items() if "lora_" in k}
    else:
        sd = lora.lora_state_dict(state.inner, trainable)
    wrapped = adapter.transformer
    adapter.transformer = state.inner  # save_lora reads peft_config from the plain module
    try:
        lora.save_lora(adapter, out, state.cfg.lora, state_dict=sd)
    finally:
        adapter.transformer = wrapped


def latest_checkpoint(root: str | Path) -> Path | None:
    """The checkpoint ``latest`` points at (None when there is none yet)."""
    root = Path(root)
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    ckpt = root / pointer.read_text().strip()
    if not (ckpt / "state.json").is_file():
        raise CheckpointError(
            f"{pointer} points at {ckpt}, which is missing or incomplete; delete {pointer} to start over"
        )
    return ckpt


def resume_checkpoint(root: str | Path, info: D.DistInfo) -> Path | None:
    """The checkpoint every rank resumes from: node 0's ``latest``, in this rank's own run directory.

    Collective. A node whose copy lacks that checkpoint (it was not finalized there, or the node's
    run directory is another one) is an error naming both.
    """
    root = Path(root)
    latest = latest_checkpoint(root) if info.is_main else None
    name = D.broadcast_object(latest.name if latest else None, info)
    if name is None:
        return None
    ckpt = root / str(name)
    if not (ckpt / "state.json").is_file():
        raise CheckpointError(
            f"node 0 resumes from {name}, but {ckpt} (rank {info.rank}) is missing or incomplete: each node must "
            "resume with the run directory it trained with (`arr train --join ... --run-dir DIR`)"
        )
    return ckpt


def read_meta(ckpt: Path) -> dict[str, Any]:
    meta = json.loads((ckpt / "state.json").read_text())
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{ckpt}/state.json: not an autorubric checkpoint v{VERSION}")
    return meta


def load_model_weights(ckpt: Path, module: torch.nn.Module) -> None:
    """Load the exact trainable tensors into the UNWRAPPED transformer (before DDP/FSDP wrapping)."""
    path = ckpt / "trainable.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; the checkpoint is incomplete")
    try:
        D.load_trainable_state(module, load_file(str(path)))
    except ValueError as error:
        raise CheckpointError(f"{ckpt}: {error}") from None


def restore_training_state(ckpt: Path, state: TrainState) -> None:
    """Optimizer, scheduler, RNGs, counters and data position (after :func:`load_model_weights`)."""
    meta = read_meta(ckpt)
    info = state.info
    if meta["world_size"] != info.world_size or meta["strategy"] != state.cfg.distributed.strategy:
        raise CheckpointError(
            f"{ckpt} was written by {meta['world_size']} ranks with {meta['strategy']}; this run has "
            f"{info.world_size} with {state.cfg.distributed.strategy}. Exact resume needs the same layout: "
            f"set distributed.nproc_per_node x nnodes = {meta['world_size']} and strategy {meta['strategy']}"
        )
    opt = torch.load(ckpt / f"optimizer-rank{info.rank}.pt", map_location=info.device, weights_only=False)
    state.optimizer.load_state_dict(opt)
    state.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=False))
    _set_rng_state(state, torch.load(ckpt / f"rng-rank{info.rank}.pt", weights_only=False))
    state.update = int(meta["update"])
    state.outer = int(meta["outer_step"])
    state.micro = 0
    state.data.position = int(meta["data_position"])
    state.totals = {k: float(v) for k, v in meta.get("totals", {}).items()}
    pending = ckpt / f"pending-rank{info.rank}.pt"
    if pending.is_file():
        # weights_only: the file holds tensors, numbers, strings and lists only
        items = torch.load(pending, map_location="cpu", weights_only=True)
        state.pending = [batch_from_dict(b, encoder(state), state.adapter.device) for b in items]
    log.info("resumed from %s (update %d)", ckpt, state.update)
