"""The RPO loss for one trained transition (pure; no model, no optimiser).

ratio = exp(logp - old_logp); the advantage (the raw judge reward, no group normalisation) is
clamped to +-adv_clip; the clipped surrogate is max(-A*ratio, -A*clip(ratio, 1 - eps, 1 + eps));
the KL term is kl_beta*(logp - ref_logp), where ref_logp is the log-prob of the same stored sample
under the reference (LoRA scaled to zero). That KL estimator is single-sample and can be negative.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rpo_loss(
    logp: Tensor,
    old_logp: Tensor,
    ref_logp: Tensor | None,
    adv: Tensor,
    clip_range: float,
    kl_beta: float,
    adv_clip: float,
) -> tuple[Tensor, dict[str, float]]:
    """Per-sample RPO loss and metrics.

    Args:
        logp: (B,) log-prob of the stored transition under the current policy (with grad).
        old_logp: (B,) log-prob recorded at rollout.
        ref_logp: (B,) log-prob under the reference (no grad), or None when kl_beta == 0.
        adv: (B,) advantages (rewards).
    Returns:
        loss (B,) with grad (the caller averages and scales for accumulation), and float metrics
        ``ratio_mean``, ``clip_frac``, ``approx_kl`` (old vs new, 0.5*mean(dlogp^2)),
        ``policy_loss``, ``kl`` (mean logp - ref_logp) and ``kl_term`` (kl_beta * kl).
    """
    if kl_beta > 0 and ref_logp is None:
        raise ValueError("rpo_loss: kl_beta > 0 needs ref_logp")
    old_logp = old_logp.detach().to(logp.dtype)
    adv = torch.clamp(adv.detach().to(logp.dtype), -adv_clip, adv_clip)
    log_ratio = logp - old_logp
    ratio = torch.exp(log_ratio)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    policy = torch.maximum(unclipped, clipped)
    if kl_beta > 0:
        kl = logp - ref_logp.detach().to(logp.dtype)  # type: ignore[union-attr]
        loss = policy + kl_beta * kl
    else:
        kl = torch.zeros_like(logp)
        loss = policy
    with torch.no_grad():
        metrics = {
            "ratio_mean": float(ratio.mean()),
            "clip_frac": float(((ratio - 1.0).abs() > clip_range).float().mean()),
            "approx_kl": float(0.5 * (log_ratio**2).mean()),
            "policy_loss": float(policy.mean()),
            "kl": float(kl.mean()),
            "kl_term": float(kl_beta * kl.mean()),
        }
    return loss, metrics
