import dataclasses

import pytest
import torch
from conftest import perturb_lora
from payloads import make_lora

from autorubric_runtime.lora import attach_lora, lora_parameters, reference_mode
from autorubric_runtime.rpo import kl_to_reference, rpo_loss
from autorubric_runtime.sampler import init_noise, rollout, transition, transition_log_prob
from autorubric_runtime.schedule import model_timesteps, sigmas


def test_eta_zero_reproduces_the_deterministic_euler_sampler(flux_adapter, sampler_cfg):
    cfg = dataclasses.replace(sampler_cfg, eta=0.0)
    cond = flux_adapter.encode(["a red cat"])
    x = init_noise(flux_adapter, 1, 1, torch.Generator().manual_seed(0))
    ro = rollout(flux_adapter, cond, cfg, torch.Generator().manual_seed(5), init_noise=x)
    assert ro.log_probs is None
    s = sigmas(4, 3.0)
    with torch.no_grad():
        for i in range(4):
            v = flux_adapter.predict_velocity(x, model_timesteps(s[i : i + 1]), cond)
            x0 = x - s[i] * v
            x = x + (s[i + 1] - s[i]) * v
    assert torch.equal(ro.final, x) and torch.allclose(ro.x0_last, x0)
    with pytest.raises(ValueError, match="deterministic"):
        transition_log_prob(flux_adapter, ro, 0, torch.tensor([0]))


def test_positive_advantage_raises_its_trajectory_log_prob(flux_adapter, sampler_cfg):
    attach_lora(flux_adapter.transformer, make_lora(rank=4, alpha=8, targets="extended"))
    perturb_lora(flux_adapter.transformer, scale=0.01)
    cond = flux_adapter.encode(["a red cat"]).repeat_each(2)
    ro = rollout(flux_adapter, cond, sampler_cfg, torch.Generator().manual_seed(3))
    adv = torch.tensor([1.0, -0.1])
    opt = torch.optim.AdamW(lora_parameters(flux_adapter.transformer), lr=1e-3, weight_decay=0.0)
    steps = range(sampler_cfg.steps - 1)  # the last transition is never trained
    for step in steps:
        for i in range(2):
            out = transition(flux_adapter, ro, step, torch.tensor([i]))
            with torch.no_grad(), reference_mode(flux_adapter.transformer):
                ref = transition(flux_adapter, ro, step, torch.tensor([i]))
            kl = kl_to_reference("closed_form", out.mean, out.std, out.prev_sample, out.log_prob, ref.mean)
            loss, _ = rpo_loss(out.log_prob, ro.log_probs[i : i + 1, step], adv[i : i + 1], kl, 0.2, 0.01, 5.0)
            (loss.mean() / (2 * len(steps))).backward()
    opt.step()
    with torch.no_grad():
        after = torch.stack([transition_log_prob(flux_adapter, ro, s, torch.tensor([0, 1])) for s in steps], dim=1)
    gain = (after - ro.log_probs[:, : len(steps)]).sum(dim=1)
    assert gain[0] > 0, gain
    assert gain[0] > gain[1]
