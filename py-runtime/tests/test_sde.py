import math

import pytest
import torch

from autorubric_runtime.sde import sde_step_with_logprob


def _inputs(seed=0, shape=(3, 4, 5)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def test_log_prob_matches_an_independent_gaussian_density():
    x, v = _inputs()
    sigma, sigma_next, eta = 0.75, 0.6429, 0.3
    out = sde_step_with_logprob(x, v, sigma, sigma_next, eta, generator=torch.Generator().manual_seed(1))
    # independent: float64, the expanded mean formula, torch.distributions
    xd, vd = x.double(), v.double()
    d = sigma_next - sigma
    mean = xd * (1 + eta**2 * d / (2 * sigma)) + vd * d * (1 + eta**2 * (1 - sigma) / (2 * sigma))
    std = eta * math.sqrt(sigma - sigma_next)
    dens = torch.distributions.Normal(mean, std).log_prob(out.prev_sample.double())
    expected = dens.reshape(3, -1).mean(1)
    assert out.log_prob.shape == (3,)
    assert torch.allclose(out.log_prob.double(), expected, atol=1e-5)
    assert torch.allclose(out.mean.double(), mean, atol=1e-5)
    assert torch.allclose(out.std, torch.full((3,), std, dtype=torch.float32))


def test_given_prev_sample_is_scored_not_redrawn():
    x, v = _inputs()
    target = torch.zeros_like(x)
    out = sde_step_with_logprob(x, v, 0.9, 0.8333, 0.3, prev_sample=target)
    assert torch.equal(out.prev_sample, target)
    std = 0.3 * math.sqrt(0.9 - 0.8333)
    manual = (
        (-((target - out.mean) ** 2) / (2 * std**2) - math.log(std) - 0.5 * math.log(2 * math.pi))
        .reshape(3, -1)
        .mean(1)
    )
    assert torch.allclose(out.log_prob, manual, atol=1e-5)


def test_drawn_sample_has_the_step_std():
    x, v = torch.zeros(1, 20000), torch.zeros(1, 20000)
    out = sde_step_with_logprob(x, v, 0.5, 0.3, 0.3, generator=torch.Generator().manual_seed(0))
    resid = out.prev_sample - out.mean
    assert abs(resid.std().item() - 0.3 * math.sqrt(0.2)) < 0.003


def test_eta_zero_is_euler_without_log_prob():
    x, v = _inputs()
    out = sde_step_with_logprob(x, v, 0.5, 0.3, 0.0)
    assert torch.allclose(out.prev_sample, x + (0.3 - 0.5) * v)
    assert out.log_prob is None
    assert torch.equal(out.x0, x - 0.5 * v)


def test_bf16_inputs_are_upcast():
    x, v = _inputs()
    out = sde_step_with_logprob(x.bfloat16(), v.bfloat16(), 0.75, 0.5, 0.3, generator=torch.Generator().manual_seed(0))
    assert out.prev_sample.dtype == torch.float32 and out.log_prob.dtype == torch.float32
    assert torch.isfinite(out.log_prob).all()


def test_gradient_reaches_the_velocity_only_through_the_mean():
    x, v = _inputs()
    v.requires_grad_(True)
    target = torch.randn_like(x)
    out = sde_step_with_logprob(x, v, 0.75, 0.5, 0.3, prev_sample=target)
    out.log_prob.sum().backward()
    assert v.grad is not None and v.grad.abs().sum() > 0


def test_sigma_zero_raises():
    x, v = _inputs()
    with pytest.raises(ValueError, match="sigma"):
        sde_step_with_logprob(x, v, 0.0, 0.0, 0.3)
