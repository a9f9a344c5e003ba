"""Rollouts with per-step log-probs, and the recompute of one stored transition for training.

The rollout runs under no_grad in eval mode; the step math is fp32 (sde.py); the transformer runs
under bf16 autocast only on CUDA (inside the adapter). Per step it records the latents and the old
log-prob; the exact sigmas are stored once and the model always sees the quantised timesteps.

Exactness of the recompute: some kernels are not batch-invariant, so the rollout runs the
transformer in micro-batches of ``micro_batch`` samples (default 1, as the reference release) and
``transition_log_prob`` on one sample reproduces the rollout's log-prob bit for bit in fp32 on CPU
(ratio exactly 1 on the first update).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from autorubric_runtime.models.base import Condition, ModelAdapter
from autorubric_runtime.run_config import SamplerCfg
from autorubric_runtime.schedule import model_timesteps, sigmas
from autorubric_runtime.sde import SdeStepResult, sde_step_with_logprob


@dataclass
class Rollout:
    latents: Tensor  # (B, S+1, L, C) fp32: x_0 .. x_S along the trajectory (x_0 = initial noise)
    log_probs: Tensor | None  # (B, S) fp32 old log-probs of each transition; None when eta == 0
    sigmas: Tensor  # (S+1,) fp32 exact sigmas; timesteps used by the model are quantised
    x0_last: Tensor  # (B, L, C) predicted clean latent at the last step
    final: Tensor  # (B, L, C) the last SDE sample
    cond: Condition
    eta: float  # noise level the trajectory was drawn with (the recompute needs it)

    @property
    def steps(self) -> int:
        return int(self.sigmas.shape[0]) - 1

    def judged(self, which: str) -> Tensor:
        """The latents that are decoded and judged: ``x0_last`` (the paper's code) or ``final``."""
        if which == "x0_last":
            return self.x0_last
        if which == "final":
            return self.final
        raise ValueError(f"train.sampler.judged_image: unknown value {which!r}; use 'x0_last' or 'final'")


def init_noise(
    adapter: ModelAdapter,
    n_prompts: int,
    candidates: int,
    generator: torch.Generator,
    same_noise: bool = True,
) -> Tensor:
    """Initial noise (n_prompts * candidates, L, C) fp32, prompt-major ([p0c0, p0c1, p1c0, ...]).

    With ``same_noise`` the candidates of a prompt share one draw (they then differ only through the
    per-step SDE noise); otherwise every candidate draws its own. Drawn on the generator's device.
    """
    L, C = adapter.latent_shape
    if same_noise:
        base = torch.randn((n_prompts, L, C), generator=generator, device=generator.device, dtype=torch.float32)
        noise = base.repeat_interleave(candidates, dim=0)
    else:
        noise = torch.randn(
            (n_prompts * candidates, L, C), generator=generator, device=generator.device, dtype=torch.float32
        )
    return noise.to(adapter.device)


@torch.no_grad()
def rollout(
    adapter: ModelAdapter,
    cond: Condition,
    cfg: SamplerCfg,
    generator: torch.Generator,
    init_noise: Tensor | None = None,
    micro_batch: int = 1,
) -> Rollout:
    """Sample ``cond.batch_size()`` trajectories with the SDE (or Euler when eta == 0).

    Args:
        cfg: the ``train.sampler`` section (steps, eta and shift are used here).
        generator: draws the initial noise (when ``init_noise`` is None) and every step's noise.
        init_noise: (B, L, C) starting latents, e.g. from :func:`init_noise` for shared noise.
        micro_batch: samples per transformer call (see the module docstring on exactness).
    """
    steps, eta = cfg.steps, cfg.eta
    b = cond.batch_size()
    L, C = adapter.latent_shape
    sig = sigmas(steps, cfg.shift)  # (S+1,)
    ts = model_timesteps(sig)
    if init_noise is None:
        x = torch.randn((b, L, C), generator=generator, device=generator.device, dtype=torch.float32)
    else:
        if tuple(init_noise.shape) != (b, L, C):
            raise ValueError(f"rollout: init_noise has shape {tuple(init_noise.shape)}, expected {(b, L, C)}")
        x = init_noise.to(torch.float32)
    x = x.to(adapter.device)

    was_training = adapter.transformer.training
    adapter.transformer.eval()
    try:
        latents = [x]
        log_probs: list[Tensor] = []
        x0 = x
        for i in range(steps):
            v = torch.cat(
                [
                    adapter.predict_velocity(
                        x[j : j + micro_batch],
                        ts[i].expand(min(micro_batch, b - j)).to(adapter.device),
                        cond.index(list(range(j, min(j + micro_batch, b)))),
                    )
                    for j in range(0, b, micro_batch)
                ]
            )  # (B, L, C) fp32
            step = sde_step_with_logprob(x, v, sig[i], sig[i + 1], eta, generator=generator)
            x, x0 = step.prev_sample, step.x0
            latents.append(x)
            if step.log_prob is not None:
                log_probs.append(step.log_prob)
    finally:
        adapter.transformer.train(was_training)
    return Rollout(
        latents=torch.stack(latents, dim=1),  # (B, S+1, L, C)
        log_probs=torch.stack(log_probs, dim=1) if log_probs else None,  # (B, S)
        sigmas=sig.to(adapter.device),
        x0_last=x0,
        final=x,
        cond=cond,
        eta=eta,
    )


def transition(adapter: ModelAdapter, rollout: Rollout, step: int, idx: Tensor) -> SdeStepResult:
    """The stored transition x_step -> x_{step+1} re-scored under the current weights.

    Returns the step's mean, std and log-prob of the stored x' (len(idx) samples), differentiable
    through the transformer (call it without no_grad for the policy, inside ``torch.no_grad()`` +
    ``lora.reference_mode`` for the reference). Samples in ``idx`` are run in one transformer call:
    pass single indices to match a rollout made with micro_batch = 1 exactly.
    """
    if rollout.eta <= 0:
        raise ValueError("transition: the rollout was deterministic (eta = 0); it has no log-probs to train")
    if not 0 <= step < rollout.steps:
        raise ValueError(f"transition: step {step} outside 0..{rollout.steps - 1}")
    idx = idx.to(device=rollout.latents.device, dtype=torch.long).reshape(-1)
    x = rollout.latents[idx, step]  # (n, L, C)
    x_next = rollout.latents[idx, step + 1]
    sig, sig_next = rollout.sigmas[step], rollout.sigmas[step + 1]
    t = model_timesteps(sig.reshape(1)).expand(idx.numel()).to(x.device)
    v = adapter.predict_velocity(x, t, rollout.cond.index(idx))
    return sde_step_with_logprob(x, v, sig, sig_next, rollout.eta, prev_sample=x_next)


def transition_log_prob(adapter: ModelAdapter, rollout: Rollout, step: int, idx: Tensor) -> Tensor:
    """(len(idx),) log-prob of the stored transition under the current weights (see :func:`transition`)."""
    out = transition(adapter, rollout, step, idx)
    assert out.log_prob is not None
    return out.log_prob
