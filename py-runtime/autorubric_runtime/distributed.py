"""torchrun process groups, DDP / FSDP wrapping of the transformer, and the collectives the trainer needs.

Backend and device come from the environment, not from hard-coded CUDA ids (the reference's
nccl + ``cuda:rank`` only runs on a GPU node): ``auto`` picks nccl when CUDA is available and gloo
otherwise, and the device is ``cuda:LOCAL_RANK`` or the CPU. A single process without torchrun's
variables runs with no process group at all, so tests and the bridge need no rendezvous.

The forward pass must go through the DDP/FSDP wrapper (that is where DDP prepares the gradient
all-reduce and FSDP gathers shards), so the wrapper replaces ``adapter.transformer``;
:class:`ForwardingDDP` forwards unknown attributes (``config``, ``dtype``) to the wrapped module
the way FSDP already does.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger("autorubric_runtime.distributed")

_FSDP_PREFIX = "_fsdp_wrapped_module."


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # None: single process, no process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.backend is not None


def init_distributed(backend: str = "auto", timeout_s: float = 1800.0, node_rank: int = 0) -> DistInfo:
    """Join torchrun's process group (RANK/WORLD_SIZE/LOCAL_RANK), or run single-process without one.

    Global ranks follow the nodes' own ranks (``node_rank * LOCAL_WORLD_SIZE + LOCAL_RANK``), so
    rank 0 is always on node 0, the node that owns the run directory, the reward service and the
    model checkpoint. torchrun's c10d rendezvous orders nodes by host name and pid instead; when its
    RANK differs, the group is formed on torchrun's store with the node-ordered rank.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    if backend == "auto":
        backend = "nccl" if cuda else "gloo"
    if backend == "nccl" and not cuda:
        raise RuntimeError("train.distributed.backend is 'nccl' but CUDA is not available; use 'auto' or 'gloo'")
    if cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world == 1 and "MASTER_ADDR" not in os.environ:
        return DistInfo(0, 1, 0, device, None)
    if not dist.is_initialized():
        kwargs = {"device_id": device} if backend == "nccl" else {}
        timeout = datetime.timedelta(seconds=timeout_s)
        rank = node_rank * int(os.environ.get("LOCAL_WORLD_SIZE", "1")) + local_rank
        if int(os.environ.get("RANK", "0")) != rank:
            kwargs["store"] = _rendezvous_store(world, timeout)
            kwargs.update(rank=rank, world_size=world)
        dist.init_process_group(backend=backend, timeout=timeout, **kwargs)
    info = DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device, backend)
    log.info("rank %d/%d on %s (%s)", info.rank, info.world_size, device, backend)
    return info


def _rendezvous_store(world: int, timeout: datetime.timedelta) -> dist.Store:
    """The store torchrun's ``env://`` rendezvous would use (MASTER_ADDR/PORT, hosted by its RANK 0)."""
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true":  # the agent hosts it
        return dist.TCPStore(addr, port, world, is_master=False, timeout=timeout)
    host = int(os.environ["RANK"]) == 0
    return dist.TCPStore(addr, port, world, is_master=host, timeout=timeout, multi_tenant=True)


def restart_count() -> int:
    """How many times torchrun restarted this worker group (0 for the first attempt, or without torchrun)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def destroy(info: DistInfo) -> None:
    if info.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.active:
        if info.backend == "nccl":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


class ForwardingDDP(DistributedDataParallel):
    """DDP that forwards unknown attributes to the wrapped module (adapters read ``.config``/``.dtype``)."""

    def __getattr__(self, name: str):  # type: ignore[override]
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def _block_classes(module: nn.Module) -> set[type[nn.Module]]:
    """Classes of the repeated transformer blocks (children of ModuleLists named ``*blocks``)."""
    classes: set[type[nn.Module]] = set()
    for name, child in module.named_modules():
        if isinstance(child, nn.ModuleList) and name.split(".")[-1].endswith("blocks"):
            classes.update(type(m) for m in child)
    return classes


def wrap_model(module: nn.Module, strategy: str, info: DistInfo, bf16: bool = False) -> nn.Module:
    """DDP, or FSDP full-shard with ``use_orig_params`` (blocks wrapped separately); unwrapped if single-process."""
    if not info.active:
        return module
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    if strategy == "ddp":
        return ForwardingDDP(module, device_ids=device_ids)
    if strategy != "fsdp":
        raise ValueError(f"train.distributed.strategy: unknown {strategy!r}; use 'ddp' or 'fsdp'")
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp import MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    dtypes = {p.dtype for p in module.parameters()}
    if len(dtypes) > 1:
        raise ValueError(
            f"fsdp: the transformer mixes parameter dtypes {sorted(map(str, dtypes))}; FSDP1 flattens each block "
            "into one tensor. Load the model in float32 (train.model.dtype: auto or float32 with strategy fsdp): "
            "FSDP mixed precision then computes in bf16"
        )
    classes = _block_classes(module)
    # FSDP's own sync_module_states refuses CPU tensors; the base weights come from the same files on
    # every rank, so broadcasting the trainable ones (LoRA, randomly initialised) is all it takes.
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                dist.broadcast(p.data, src=0)
    mp = (
        MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32, buffer_dtype=torch.bfloat16)
        if bf16
        else None
    )
    return FSDP(
        module,
        sharding_strategy=ShardingStrategy.FULL_SHARD,
        auto_wrap_policy=ModuleWrapPolicy(classes) if classes else None,
        use_orig_params=True,
        mixed_precision=mp,
        device_id=info.device,  # torch.device("cpu") on gloo: FSDP otherwise looks for an accelerator
    )


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP/FSDP wrapper (FSDP-nested blocks stay wrapped)."""
    if isinstance(model, DistributedDataParallel):
        return model.module
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    if isinstance(model, FSDP):
        return model.module
    return model


def is_fsdp(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    return isinstance(model, FSDP)


def no_sync(model: nn.Module, enabled: bool) -> contextlib.AbstractContextManager:
    """Skip the gradient all-reduce / reduce-scatter (forward and backward must both be inside)."""
    if enabled and hasattr(model, "no_sync") and (isinstance(model, DistributedDataParallel) or is_fsdp(model)):
        return model.no_sync()
    return contextlib.nullcontext()


def clip_grad_norm(model: nn.Module, params: list[nn.Parameter], max_norm: float) -> float:
    """Clip the global grad norm (FSDP needs its own method: the grads are sharded)."""
    if is_fsdp(model):
        return float(model.clip_grad_norm_(max_norm))  # type: ignore[operator]
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))


def trainable_state(model: nn.Module, info: DistInfo) -> dict[str, Tensor] | None:
    """Full copies (CPU, fp32 as stored) of every trainable parameter, keyed by its unwrapped name.

    Returns the dict on rank 0 and None elsewhere. Under FSDP every rank must call it (it gathers one
    wrapped unit at a time, so memory never holds more than one block unsharded).
    """
    if not is_fsdp(model):
        if info.rank != 0:
            return None
        inner = unwrap(model)
        return {n: p.detach().to("cpu", copy=True) for n, p in inner.named_parameters() if p.requires_grad}
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    def direct(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Parameter]]:
        # the parameters a unit manages itself: nested units are gathered on their own turn
        for name, p in module.named_parameters(recurse=False):
            yield prefix + name, p
        for name, child in module.named_children():
            if not isinstance(child, FSDP):
                yield from direct(child, prefix + name + ".")

    out: dict[str, Tensor] = {}
    for prefix, unit in model.named_modules():
        if not isinstance(unit, FSDP):
            continue
        base = prefix.replace(_FSDP_PREFIX, "")
        with FSDP.summon_full_params(unit, recurse=False, writeback=False):
            for name, p in direct(unit.module, base + "." if base else ""):
                if p.requires_grad and info.rank == 0:
                    out[name.replace(_FSDP_PREFIX, "")] = p.detach().to("cpu", copy=True)
    return out if info.rank == 0 else None


def load_trainable_state(module: nn.Module, state: dict[str, Tensor]) -> None:
    """Copy ``state`` into the (unwrapped) module's trainable parameters; names must match exactly."""
    params = {n: p for n, p in module.named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(state))
    extra = sorted(set(state) - set(params))
    if missing or extra:
        raise ValueError(
            f"checkpoint LoRA does not match the model: missing {missing[:3]}, unexpected {extra[:3]} "
            "(were lora.rank/targets or the model changed since the checkpoint?)"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state[name].to(p.device, p.dtype))


def shard(items: list, info: DistInfo) -> list:
    """This rank's share, padded by repeating the last item so every rank runs the same number of calls."""
    per = -(-len(items) // info.world_size) if items else 0
    mine = items[info.rank :: info.world_size]
    return mine + [mine[-1] if mine else items[-1]] * (per - len(mine)) if items else []


def all_reduce_sum(values: Tensor, info: DistInfo) -> Tensor:
    """Sum a float64 vector over ranks (gloo and nccl both take it on the rank's device)."""
    if not info.active:
        return values
    t = values.to(info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def broadcast_object(obj: object, info: DistInfo) -> object:
    if not info.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj: object, info: DistInfo) -> list[object]:
    """Every rank's ``obj``, in rank order (``[obj]`` single-process)."""
    if not info.active:
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


@contextlib.contextmanager
def local_rank_zero_first(info: DistInfo) -> Iterator[None]:
    """Each node's local rank 0 runs the body first (e.g. builds a cached tiny model on its own disk), the others after."""
    if info.local_rank != 0:
        barrier(info)
    yield
    if info.local_rank == 0:
        barrier(info)
