"""The static shifted sigma schedule of the reference trainers (not the diffusers scheduler).

t_i = 1 - i/S for i = 0..S and sigma_i = shift*t_i / (1 + (shift - 1)*t_i). The transformer sees
the quantised timestep int(1000*sigma)/1000; the SDE update uses the exact sigma. Both are computed
in float32 on purpose: truncation depends on the dtype (0.25 -> 250 in float32, 249 in float64), and
the pinned integers in tests/test_schedule.py are the float32 ones.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sigmas(steps: int, shift: float = 3.0) -> Tensor:
    """(steps + 1,) float32 sigmas from 1 down to 0."""
    if steps < 1:
        raise ValueError(f"sampler.steps must be >= 1, got {steps}")
    if shift <= 0:
        raise ValueError(f"sampler.shift must be > 0, got {shift}")
    t = 1.0 - torch.arange(steps + 1, dtype=torch.float32) / steps
    return shift * t / (1.0 + (shift - 1.0) * t)


def model_timesteps(sig: Tensor) -> Tensor:
    """Quantised model inputs int(1000*sigma)/1000, float32, same shape as ``sig``."""
    return torch.floor(sig.to(torch.float32) * 1000.0).to(torch.float32) / 1000.0


def timestep_ints(sig: Tensor) -> list[int]:
    """The integer timesteps int(1000*sigma) (what the pinned tests compare)."""
    return [int(v) for v in torch.floor(sig.to(torch.float32) * 1000.0).tolist()]
