"""Spread of a prompt's samples across seeds, in latent space (the training-health diversity measure).

Cheap by design: it reads the judged latents the eval pass already has, with no decode and no
feature network. The controller compares the current policy's spread with the base model's on the
same prompts and seeds (src/train/health/diversity.ts).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def latent_spread(latents: Tensor) -> float:
    """Mean over seed pairs of the RMS distance between two samples' latents.

    Args:
        latents: (S, L, C) the judged latents of one prompt at S seeds.

    Returns:
        mean_{i<j} sqrt(mean((x_i - x_j)^2)); NaN for fewer than two samples.
    """
    s = latents.shape[0]
    if s < 2:
        return math.nan
    flat = latents.reshape(s, -1).float()
    i, j = torch.triu_indices(s, s, offset=1)
    rms = (flat[i] - flat[j]).pow(2).mean(dim=1).sqrt()
    return float(rms.mean())
