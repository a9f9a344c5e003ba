import pytest
import torch
from conftest import perturb_lora

from autorubric_runtime.lora import attach_lora, lora_parameters, reference_mode
from autorubric_runtime.rpo import kl_to_reference, rpo_loss
from autorubric_runtime.sampler import init_noise, rollout, transition, transition_log_prob
from autorubric_runtime.schedule import model_timesteps, sigmas


def test_rollout_shapes_and_shared_initial_noise(flux_adapter, sampler_cfg):
    cond = flux_adapter.encode(["a red cat", "a blue dog"]).repeat_each(2)
    noise = init_noise(flux_adapter, 2, 2, torch.Generator().manual_seed(0), same_noise=True)
    ro = rollout(flux_adapter, cond, sampler_cfg, torch.Generator().manual_seed(1), init_noise=noise)
    L, C = flux_adapter.latent_shape
    assert ro.latents.shape == (4, 5, L, C) and ro.log_probs.shape == (4, 4)
    assert torch.equal(ro.latents[0, 0], ro.latents[1, 0]) and not torch.equal(ro.latents[0, 0], ro.latents[2, 0])
    assert not torch.equal(ro.final[0], ro.final[1])  # candidates differ through the SDE noise
    assert torch.isfinite(ro.log_probs).all()
    assert torch.equal(ro.judged("final"), ro.final) and torch.equal(ro.judged("x0_last"), ro.x0_last)
    own = init_noise(flux_adapter, 2, 2, torch.Generator().manual_seed(0), same_noise=False)
    assert not torch.equal(own[0], own[1])


def test_eta_zero_reproduces_the_deterministic_euler_sampler(flux_adapter):
    cfg = {"steps": 4, "eta": 0.0, "shift": 3.0}
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


def test_recomputed_log_prob_equals_rollout_and_ratio_is_exactly_one(flux_adapter, sampler_cfg):
    attach_lora(flux_adapter.transformer, {"rank": 4, "alpha": 8})
    perturb_lora(flux_adapter.transformer)
    cond = flux_adapter.encode(["a red cat", "a blue dog"]).repeat_each(2)
    ro = rollout(flux_adapter, cond, sampler_cfg, torch.Generator().manual_seed(2))
    flux_adapter.transformer.train()
    for step in range(sampler_cfg["steps"]):
        for i in range(4):
            logp = transition_log_prob(flux_adapter, ro, step, torch.tensor([i]))
            assert logp.requires_grad
            assert torch.equal(logp.detach(), ro.log_probs[i : i + 1, step])
            _, m = rpo_loss(logp, ro.log_probs[i : i + 1, step], torch.ones(1), None, 0.2, 0.0, 5.0)
            assert m["ratio_mean"] == 1.0
    # the LoRA-off reference differs (the LoRA is nonzero) but stays finite
    with torch.no_grad(), reference_mode(flux_adapter.transformer):
        ref = transition_log_prob(flux_adapter, ro, 1, torch.tensor([0]))
    assert torch.isfinite(ref).all() and not torch.equal(ref, ro.log_probs[0:1, 1])


def test_positive_advantage_raises_its_trajectory_log_prob(flux_adapter, sampler_cfg):
    attach_lora(flux_adapter.transformer, {"rank": 4, "alpha": 8, "targets": "extended"})
    perturb_lora(flux_adapter.transformer, scale=0.01)
    cond = flux_adapter.encode(["a red cat"]).repeat_each(2)
    ro = rollout(flux_adapter, cond, sampler_cfg, torch.Generator().manual_seed(3))
    adv = torch.tensor([1.0, -0.1])
    opt = torch.optim.AdamW(lora_parameters(flux_adapter.transformer), lr=1e-3, weight_decay=0.0)
    steps = range(sampler_cfg["steps"] - 1)  # the last transition is never trained
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
