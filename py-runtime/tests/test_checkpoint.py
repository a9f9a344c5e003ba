"""Checkpoints: exact resume (2 + resume + 2 == 4, bit for bit), atomic layout, clear refusals."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch
from test_trainer import lora_tensors, make_cfg, make_state

from autorubric_runtime import checkpoint as C
from autorubric_runtime import distributed as D
from autorubric_runtime.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_model_weights,
    prune_checkpoints,
    restore_training_state,
    save_checkpoint,
)
from autorubric_runtime.trainer import train_step


def resume_cfg(model_dir: Path, depth: int = 0):
    # everything that carries state across updates is switched on: warmup (scheduler), a timestep
    # subset (selection RNG), shuffled data over more than one epoch, KL, separate noise per candidate,
    # and with depth 1 a batch in flight at the checkpoint
    return make_cfg(
        model_dir,
        grad_accum=2,
        max_steps=4,
        sampler={"same_init_noise": False},
        rpo={"timestep_fraction": 0.67, "kl_beta": 0.05},
        optim={"warmup_steps": 3, "lr": 3e-3},
        pipeline={"depth": depth},
    )


def run_updates(state, n: int) -> None:
    target = state.update + n
    while state.update < target:
        train_step(state)


@pytest.mark.parametrize("depth", [0, 1])
def test_two_plus_resume_plus_two_equals_four(tiny_flux_dir: Path, tmp_path: Path, depth: int) -> None:
    cfg = resume_cfg(tiny_flux_dir, depth)
    straight = make_state(cfg)
    run_updates(straight, 4)
    assert straight.pending == []  # the last step samples nothing ahead

    first = make_state(cfg)
    run_updates(first, 2)
    assert len(first.pending) == depth  # depth 1: the next batch is sampled and submitted, not trained
    ckpt = save_checkpoint(first, tmp_path)
    assert ckpt == tmp_path / "checkpoint-2" and latest_checkpoint(tmp_path) == ckpt
    torch.manual_seed(1234)  # a new process: other global RNG, other LoRA init
    torch.rand(7)

    resumed = make_state(cfg, lora_seed=99)
    load_model_weights(ckpt, resumed.inner)
    restore_training_state(ckpt, resumed)
    assert (resumed.update, resumed.outer, resumed.data.position) == (2, 4, 4 + depth)
    assert [len(b) for b in resumed.pending] == [1] * depth and all(
        s.handle is None for b in resumed.pending for s in b
    )
    run_updates(resumed, 2)

    want, got = lora_tensors(straight), lora_tensors(resumed)
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert resumed.scheduler.get_last_lr() == straight.scheduler.get_last_lr()
    # and the run really moved (the equality is not the trivial one)
    assert any(float(v.abs().sum()) > 0 for k, v in want.items() if "lora_B" in k)


def test_checkpoint_layout_and_latest_pointer(tiny_flux_dir: Path, tmp_path: Path) -> None:
    state = make_state(make_cfg(tiny_flux_dir))
    run_updates(state, 1)
    save_checkpoint(state, tmp_path)
    run_updates(state, 1)
    ckpt = save_checkpoint(state, tmp_path)
    assert (tmp_path / "latest").read_text().strip() == "checkpoint-2"
    names = {p.name for p in ckpt.iterdir()}
    assert {
        "lora",
        "trainable.safetensors",
        "optimizer-rank0.pt",
        "rng-rank0.pt",
        "scheduler.pt",
        "state.json",
    } <= names
    assert (ckpt / "lora" / "pytorch_lora_weights.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]  # nothing partial left
    meta = json.loads((ckpt / "state.json").read_text())
    assert meta["update"] == 2 and meta["data_position"] == 2 and meta["totals"]["decided"] == 2

    # the diffusers-format LoRA holds the trained weights (what pipe.load_lora_weights will read)
    from safetensors.torch import load_file

    saved = load_file(str(ckpt / "lora" / "pytorch_lora_weights.safetensors"))
    live = lora_tensors(state)
    key = next(k for k in live if "lora_B" in k)
    diffusers_key = "transformer." + key.replace(".default", "")
    assert torch.equal(saved[diffusers_key], live[key])


def test_mid_window_checkpoint_and_layout_mismatch_are_refused(tiny_flux_dir: Path, tmp_path: Path) -> None:
    state = make_state(make_cfg(tiny_flux_dir, grad_accum=2))
    train_step(state)
    with pytest.raises(CheckpointError, match="mid-window"):
        save_checkpoint(state, tmp_path)
    train_step(state)
    ckpt = save_checkpoint(state, tmp_path)

    other = make_state(make_cfg(tiny_flux_dir, grad_accum=2))
    object.__setattr__(other, "info", D.DistInfo(0, 2, 0, torch.device("cpu"), "gloo"))
    with pytest.raises(CheckpointError, match="same layout"):
        restore_training_state(ckpt, other)

    (tmp_path / "latest").write_text("checkpoint-9\n")
    with pytest.raises(CheckpointError, match="missing or incomplete"):
        latest_checkpoint(tmp_path)
    assert latest_checkpoint(tmp_path / "nothing-here") is None


def test_a_full_disk_names_the_file_keeps_the_last_checkpoint_and_leaves_no_temp_folder(
    tiny_flux_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = make_state(make_cfg(tiny_flux_dir))
    run_updates(state, 1)
    save_checkpoint(state, tmp_path)
    run_updates(state, 1)
    real_save = torch.save

    def full_disk(obj, path, *a, **k):
        if "rng-rank" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(C.torch, "save", full_disk)
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(state, tmp_path)
    message = str(caught.value)
    assert "checkpoint at update 2 not written" in message
    assert "rng-rank0.pt" in message and "ENOSPC" in message and "No space left" in message
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-1", "latest"]

    # a save killed mid-way leaves its temp folder; the next successful save clears it
    monkeypatch.setattr(C.torch, "save", real_save)
    (tmp_path / ".tmp-checkpoint-9").mkdir()
    (tmp_path / ".tmp-checkpoint-9" / "optimizer-rank0.pt").write_bytes(b"partial")
    save_checkpoint(state, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-1", "checkpoint-2", "latest"]


def test_keep_checkpoints_keeps_the_last_n_and_the_latest_evaluated(tmp_path: Path) -> None:
    for update in (2, 4, 5, 6, 7, 8):
        (tmp_path / f"checkpoint-{update}").mkdir()
    (tmp_path / "checkpoint-notes").mkdir()  # not ours: never touched
    removed = prune_checkpoints(tmp_path, keep=2, eval_every=5)
    assert sorted(p.name for p in removed) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-5",
        "checkpoint-7",
        "checkpoint-8",
        "checkpoint-notes",
    ]
    assert prune_checkpoints(tmp_path, keep=0, eval_every=5) == []  # 0 keeps every checkpoint
