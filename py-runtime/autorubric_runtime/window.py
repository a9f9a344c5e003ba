"""The statistics of one accumulation window: sums kept during the outer steps, metrics at the update."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from autorubric_runtime import distributed as D


@dataclass
class WindowStats:
    """Sums over the outer steps of the current accumulation window (reduced over ranks at the update)."""

    samples: float = 0.0
    reward_sum: float = 0.0
    decided: float = 0.0
    tie: float = 0.0
    invalid: float = 0.0
    failed: float = 0.0
    agree_n: float = 0.0
    agree_yes: float = 0.0
    cached: float = 0.0
    terms: float = 0.0  # (sample, trained step) loss terms
    loss_sum: float = 0.0
    policy_sum: float = 0.0
    kl_sum: float = 0.0  # the loss's KL estimate (train.rpo.kl_estimator)
    kl_ref_sum: float = 0.0  # closed-form KL to the reference, whatever the estimator
    ratio_sum: float = 0.0
    clip_sum: float = 0.0
    approx_kl_sum: float = 0.0
    staleness_sum: float = 0.0  # per prompt: optimizer updates between its sampling and its update
    time_sampling: float = 0.0
    time_decode: float = 0.0
    time_reference: float = 0.0
    time_judge_wait: float = 0.0
    time_update: float = 0.0

    def vector(self) -> Tensor:
        return torch.tensor([float(v) for v in self.__dict__.values()], dtype=torch.float64)

    @classmethod
    def from_vector(cls, v: Tensor) -> WindowStats:
        return cls(*[float(x) for x in v.tolist()])


@contextlib.contextmanager
def timer(stats: WindowStats, name: str) -> Iterator[None]:
    """Adds the wall time of the block to ``stats.<name>``."""
    t0 = time.perf_counter()
    yield
    setattr(stats, name, getattr(stats, name) + time.perf_counter() - t0)


def window_metrics(
    window: WindowStats, info: D.DistInfo, totals: dict[str, float], update: int, grad_norm: float, lr: float
) -> dict[str, float | int | None]:
    """The per-update metrics (what rank 0 posts): sums reduced over ranks, then averaged.

    Adds the window's judged counts to ``totals`` (the run's, which a checkpoint keeps).
    """
    w = WindowStats.from_vector(D.all_reduce_sum(window.vector(), info))
    world = info.world_size
    for key in ("decided", "tie", "invalid", "failed"):
        totals[key] = totals.get(key, 0.0) + getattr(w, key)
    terms = max(w.terms, 1.0)
    times = {
        k: getattr(w, k) / world
        for k in ("time_sampling", "time_decode", "time_reference", "time_judge_wait", "time_update")
    }
    return {
        "update": update,
        "lr": lr,
        "grad_norm": grad_norm,
        "loss": w.loss_sum / terms,
        "policy_loss": w.policy_sum / terms,
        "kl": w.kl_sum / terms,
        "kl_ref": w.kl_ref_sum / terms,
        "approx_kl": w.approx_kl_sum / terms,
        "ratio_mean": w.ratio_sum / terms,
        "clip_frac": w.clip_sum / terms,
        "reward_mean": w.reward_sum / max(w.samples, 1.0),
        "samples": int(w.samples),
        "pairs": int(w.decided + w.tie + w.invalid + w.failed),
        "staleness": w.staleness_sum / max(w.decided + w.tie + w.invalid + w.failed, 1.0),
        "decided": int(w.decided),
        "tie": int(w.tie),
        "invalid": int(w.invalid),
        "failed": int(w.failed),
        "agreement": (w.agree_yes / w.agree_n) if w.agree_n else None,
        "cached": int(w.cached),
        **times,
        "time_step": sum(times.values()),
    }
