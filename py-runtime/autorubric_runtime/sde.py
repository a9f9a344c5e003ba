"""One stochastic flow-matching step with its Gaussian log-probability (DanceGRPO form).

Flow convention: x_sigma = (1 - sigma)*x0 + sigma*eps, v is the predicted velocity, so
x0_hat = x - sigma*v. A step goes from sigma to sigma_next < sigma (delta = sigma_next - sigma < 0):

    score  = -(x - (1 - sigma)*x0_hat) / sigma**2
    mean   = x + delta*v - 0.5*eta**2*score*delta
    std    = eta*sqrt(sigma - sigma_next)
    x'     = mean + std*noise
    logp   = mean over non-batch elements of  -(x' - mean)**2/(2 std**2) - log std - log(2 pi)/2

Everything runs in float32 whatever the model's dtype: in bf16 the score's 1/sigma**2 and the
squared residuals lose the precision the log-ratio needs. The log-prob is a mean (not a sum) over
elements, as in both reference lineages; this sets the scale of log-ratios and thus what the PPO
clip range means. eta = 0 is the plain Euler step; it has no density, so its log-prob is None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass
class SdeStepResult:
    """Result of :func:`sde_step_with_logprob`; also unpacks as (prev_sample, log_prob, mean, std)."""

    prev_sample: Tensor  # (B, ...) fp32, the next latent x'
    log_prob: Tensor | None  # (B,) fp32; None when eta == 0 (deterministic step)
    mean: Tensor  # (B, ...) fp32
    std: Tensor  # (B,) fp32 (zeros when eta == 0)
    x0: Tensor  # (B, ...) fp32 predicted clean latent x - sigma*v

    def __iter__(self):
        return iter((self.prev_sample, self.log_prob, self.mean, self.std))


def _per_sample(value: Tensor | float, like: Tensor) -> Tensor:
    """Broadcast a scalar or (B,) value to (B, 1, ..., 1) in fp32 on like's device."""
    t = torch.as_tensor(value, dtype=torch.float32, device=like.device)
    if t.ndim == 0:
        t = t.expand(like.shape[0])
    return t.reshape(-1, *([1] * (like.ndim - 1)))


def gaussian_log_prob(sample: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Mean over non-batch elements of the log-density of N(mean, std^2) at sample; (B,) fp32.

    ``std`` broadcasts like ``mean`` ((B, 1, ...) or a scalar). Gradients flow through mean (and std).
    """
    sample = sample.detach().to(torch.float32)
    log_std = torch.log(std)
    elem = -((sample - mean) ** 2) / (2.0 * std**2) - log_std - _HALF_LOG_2PI
    return elem.reshape(elem.shape[0], -1).mean(dim=1)


def sde_step_with_logprob(
    x: Tensor,
    v: Tensor,
    sigma: Tensor | float,
    sigma_next: Tensor | float,
    eta: float,
    prev_sample: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> SdeStepResult:
    """One SDE step from ``sigma`` to ``sigma_next``.

    Args:
        x: current latent (B, ...); any dtype, upcast to fp32.
        v: predicted velocity, same shape as x; any dtype, upcast to fp32.
        sigma, sigma_next: exact (not quantised) sigmas, scalars or (B,).
        eta: noise level; 0 gives the deterministic Euler step and log_prob None.
        prev_sample: when given, the log-prob of this stored next latent is computed and it is
            returned unchanged (the recompute path of training); otherwise x' is drawn.
        generator: draws the step noise when prev_sample is None.
    """
    x = x.to(torch.float32)
    v = v.to(torch.float32)
    s = _per_sample(sigma, x)  # (B, 1, ...)
    s_next = _per_sample(sigma_next, x)
    if bool((s <= 0).any()):
        raise ValueError("sde_step_with_logprob: sigma must be > 0 (the step from sigma = 0 is undefined)")
    delta = s_next - s  # negative
    x0 = x - s * v
    if eta == 0:
        mean = x + delta * v
        std = torch.zeros(x.shape[0], dtype=torch.float32, device=x.device)
        out = mean if prev_sample is None else prev_sample.to(torch.float32)
        return SdeStepResult(out, None, mean, std, x0)
    if eta < 0:
        raise ValueError(f"sampler.eta must be >= 0, got {eta}")
    score = -(x - (1.0 - s) * x0) / s**2
    mean = x + delta * v - 0.5 * eta**2 * score * delta
    std = eta * torch.sqrt(s - s_next)  # (B, 1, ...)
    if prev_sample is None:
        noise = torch.randn(
            x.shape,
            generator=generator,
            device=x.device if generator is None else generator.device,
            dtype=torch.float32,
        )
        prev_sample = (mean + std * noise.to(x.device)).detach()
    else:
        prev_sample = prev_sample.detach().to(torch.float32)
    log_prob = gaussian_log_prob(prev_sample, mean, std)
    return SdeStepResult(prev_sample, log_prob, mean, std.reshape(-1), x0)
