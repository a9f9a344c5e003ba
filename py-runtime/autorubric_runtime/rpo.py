"""The RPO loss for one trained transition (pure; no model, no optimiser).

ratio = exp(logp - old_logp); the advantage (the raw judge reward, no group normalisation) is
clamped to +-adv_clip; the clipped surrogate is max(-A*ratio, -A*clip(ratio, 1 - eps, 1 + eps));
the KL term is kl_beta * KL(policy step || reference step), the reference being the same network
with the LoRA scaled to zero.

Two estimators of that KL (``train.rpo.kl_estimator``):

- ``closed_form``: policy and reference transitions are Gaussians with the same std, so the KL per
  element is (mu_theta - mu_ref)^2 / (2 std^2), averaged over elements like the log-prob. It is
  deterministic given the state, and its gradient pulls mu_theta toward mu_ref.
- ``sample``: the paper's ``logp - ref_logp`` on the stored transition x'. Its value is an unbiased
  KL estimate, but x' was drawn from the policy being updated, so with x' held fixed its gradient
  is ``grad log pi(x')``, whose expectation under x' ~ pi is zero: it adds noise and no pull toward
  the reference. Kept to reproduce the paper.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from autorubric_runtime.sde import gaussian_log_prob

KlEstimator = Literal["closed_form", "sample"]


def _per_sample_std(std: Tensor, like: Tensor) -> Tensor:
    return std.to(torch.float32).reshape(-1, *([1] * (like.ndim - 1)))


def closed_form_kl(mean: Tensor, ref_mean: Tensor, std: Tensor) -> Tensor:
    """(B,) mean over non-batch elements of KL(N(mean, std^2) || N(ref_mean, std^2)).

    ``std`` is per sample, (B,). Gradients flow through ``mean``; ``ref_mean`` is detached.
    """
    s = _per_sample_std(std, mean)
    elem = (mean.to(torch.float32) - ref_mean.detach().to(torch.float32)) ** 2 / (2.0 * s**2)
    return elem.reshape(elem.shape[0], -1).mean(dim=1)


def kl_to_reference(
    estimator: KlEstimator, mean: Tensor, std: Tensor, sample: Tensor, logp: Tensor, ref_mean: Tensor
) -> Tensor:
    """(B,) the KL estimate the loss uses: see the module docstring.

    Args:
        mean, std, sample, logp: the policy's step (with grad through ``mean`` and ``logp``): its
            Gaussian mean, per-sample std (B,), the stored next latent x' and its log-prob.
        ref_mean: the reference's step mean at the same state (no grad).
    """
    if estimator == "closed_form":
        return closed_form_kl(mean, ref_mean, std)
    if estimator == "sample":
        ref_logp = gaussian_log_prob(sample, ref_mean.detach().to(torch.float32), _per_sample_std(std, mean))
        return logp - ref_logp
    raise ValueError(f"train.rpo.kl_estimator: unknown value {estimator!r}; use 'closed_form' or 'sample'")


def rpo_loss(
    logp: Tensor,
    old_logp: Tensor,
    adv: Tensor,
    kl: Tensor | None,
    clip_range: float,
    kl_beta: float,
    adv_clip: float,
) -> tuple[Tensor, dict[str, float]]:
    """Per-sample RPO loss and metrics.

    Args:
        logp: (B,) log-prob of the stored transition under the current policy (with grad).
        old_logp: (B,) log-prob recorded at rollout.
        adv: (B,) advantages (rewards).
        kl: (B,) the KL estimate to the reference (with grad, see :func:`kl_to_reference`), or None
            when kl_beta == 0.
    Returns:
        loss (B,) with grad (the caller averages and scales for accumulation), and float metrics
        ``ratio_mean``, ``clip_frac``, ``approx_kl`` (old vs new, 0.5*mean(dlogp^2)),
        ``policy_loss``, ``kl`` (mean of the estimate) and ``kl_term`` (kl_beta * kl).
    """
    if kl_beta > 0 and kl is None:
        raise ValueError("rpo_loss: kl_beta > 0 needs the KL estimate")
    old_logp = old_logp.detach().to(logp.dtype)
    adv = torch.clamp(adv.detach().to(logp.dtype), -adv_clip, adv_clip)
    log_ratio = logp - old_logp
    ratio = torch.exp(log_ratio)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    policy = torch.maximum(unclipped, clipped)
    kl_value = kl if kl is not None else torch.zeros_like(logp)
    loss = policy + kl_beta * kl_value if kl_beta > 0 else policy
    with torch.no_grad():
        metrics = {
            "ratio_mean": float(ratio.mean()),
            "clip_frac": float(((ratio - 1.0).abs() > clip_range).float().mean()),
            "approx_kl": float(0.5 * (log_ratio**2).mean()),
            "policy_loss": float(policy.mean()),
            "kl": float(kl_value.mean()),
            "kl_term": float(kl_beta * kl_value.mean()),
        }
    return loss, metrics
