"""Two gloo processes: DDP and FSDP (full shard, use_orig_params) keep every rank's LoRA identical."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from autorubric_runtime import distributed as D


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, model_dir: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    from test_trainer import make_cfg, make_state

    from autorubric_runtime.checkpoint import save_checkpoint
    from autorubric_runtime.trainer import train_step

    info = D.init_distributed("gloo")
    try:
        results = {}
        for strategy in ("ddp", "fsdp"):
            cfg = make_cfg(Path(model_dir), grad_accum=2, distributed={"strategy": strategy})
            # a different LoRA init per rank: wrapping must make rank 0's the common start
            state = make_state(cfg, lora_seed=rank, info=info)
            first = train_step(state)
            second = train_step(state)
            full = D.trainable_state(state.model, info)  # a collective under FSDP
            ckpt = save_checkpoint(state, Path(out) / strategy)
            results[strategy] = {
                "updated": (first.updated, second.updated),
                "metrics": second.metrics,
                "full": full,
                "local": {n: p.detach().clone() for n, p in state.model.named_parameters() if p.requires_grad},
                "ckpt": str(ckpt),
            }
            D.barrier(info)
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        D.destroy(info)


def test_two_gloo_ranks_hold_identical_lora_after_an_update(tiny_flux_dir: Path, tmp_path: Path) -> None:
    # fork: the children inherit the imported torch/diffusers (a spawn re-imports them: ~10 s each)
    mp.start_processes(
        _rank_main, args=(_free_port(), str(tiny_flux_dir), str(tmp_path)), nprocs=2, join=True, start_method="fork"
    )
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)

    ddp0, ddp1 = r0["ddp"]["local"], r1["ddp"]["local"]
    assert r0["ddp"]["updated"] == (False, True)
    assert ddp0.keys() == ddp1.keys() and all(torch.equal(ddp0[k], ddp1[k]) for k in ddp0)
    # the step did something, with both ranks' samples in it (metrics are reduced over ranks)
    assert any(float(v.abs().sum()) > 0 for k, v in ddp0.items() if "lora_B" in k)
    assert r0["ddp"]["metrics"]["samples"] == 2 * 2 * 2 and r0["ddp"]["metrics"] == r1["ddp"]["metrics"]
    assert r1["ddp"]["full"] is None
    assert all(torch.equal(v, ddp0["module." + k]) for k, v in r0["ddp"]["full"].items())  # gathered == live

    # FSDP: the gathered full LoRA equals DDP's result (same start, same data, same RNG streams)
    full = r0["fsdp"]["full"]
    assert full.keys() == r0["ddp"]["full"].keys()
    for k in full:
        torch.testing.assert_close(full[k], r0["ddp"]["full"][k], rtol=1e-5, atol=1e-7)
    ckpt = Path(r0["fsdp"]["ckpt"])
    assert (ckpt / "optimizer-rank0.pt").is_file() and (ckpt / "optimizer-rank1.pt").is_file()
    assert (ckpt / "lora" / "pytorch_lora_weights.safetensors").is_file()


def _node_main(proc: int, port: int, out: str) -> None:
    # torchrun's c10d rendezvous ordered the nodes the other way round: node 1's worker got RANK 0
    node_rank = proc
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE="2",
        RANK=str(1 - node_rank),
        LOCAL_RANK="0",
        LOCAL_WORLD_SIZE="1",
        TORCHELASTIC_USE_AGENT_STORE="False",
    )
    info = D.init_distributed("gloo", node_rank=node_rank)
    try:
        got = D.all_gather_object(node_rank, info)
        Path(out, f"node{node_rank}.txt").write_text(f"{info.rank} {got}")
    finally:
        D.destroy(info)


def test_global_ranks_follow_the_node_ranks_whatever_order_torchrun_chose(tmp_path: Path) -> None:
    mp.start_processes(_node_main, args=(_free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork")
    # rank r is node r's worker (node 0 holds rank 0), and the group works in that order
    assert (tmp_path / "node0.txt").read_text() == "0 [0, 1]"
    assert (tmp_path / "node1.txt").read_text() == "1 [0, 1]"


def test_shard_pads_so_every_rank_runs_the_same_number_of_calls() -> None:
    infos = [D.DistInfo(r, 3, r, torch.device("cpu"), "gloo") for r in range(3)]
    shards = [D.shard(list(range(7)), i) for i in infos]
    assert shards == [[0, 3, 6], [1, 4, 4], [2, 5, 5]]
    assert sorted({x for s in shards for x in s}) == list(range(7))


def test_single_process_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR"):
        monkeypatch.delenv(key, raising=False)
    info = D.init_distributed("auto")
    assert (info.rank, info.world_size, info.backend) == (0, 1, None)
    module = torch.nn.Linear(2, 2)
    assert D.wrap_model(module, "fsdp", info) is module
    with pytest.raises(RuntimeError, match="nccl"):
        if not torch.cuda.is_available():
            D.init_distributed("nccl")
        else:
            raise RuntimeError("nccl available; nothing to check")
