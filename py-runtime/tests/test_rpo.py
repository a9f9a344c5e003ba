import math

import pytest
import torch

from autorubric_runtime.rpo import closed_form_kl, kl_to_reference, rpo_loss
from autorubric_runtime.sde import gaussian_log_prob, sde_step_with_logprob


def test_on_policy_loss_is_minus_advantage_plus_kl():
    logp = torch.tensor([1.0, 2.0], requires_grad=True)
    kl = torch.tensor([0.5, 0.25])
    adv = torch.tensor([1.0, -0.1])
    loss, m = rpo_loss(logp, logp.detach().clone(), adv, kl, 0.2, 0.01, 5.0)
    assert torch.allclose(loss, -adv + 0.01 * kl)
    assert m["ratio_mean"] == 1.0 and m["clip_frac"] == 0.0 and m["approx_kl"] == 0.0
    assert m["kl"] == pytest.approx(0.375) and m["policy_loss"] == pytest.approx(-0.45)


def test_clipping_stops_the_gradient_only_in_the_improving_direction():
    old = torch.zeros(2)
    logp = torch.full((2,), math.log(1.5), requires_grad=True)  # ratio 1.5, outside 1 +- 0.2
    adv = torch.tensor([1.0, -1.0])
    loss, m = rpo_loss(logp, old, adv, None, 0.2, 0.0, 5.0)
    assert loss[0].item() == pytest.approx(-1.2)  # clipped: no more credit for a positive advantage
    assert loss[1].item() == pytest.approx(1.5)  # unclipped: the penalty keeps its gradient
    loss.sum().backward()
    assert logp.grad[0] == 0 and logp.grad[1] == pytest.approx(1.5)
    assert m["clip_frac"] == 1.0


def test_advantages_are_clamped():
    logp = torch.zeros(2, requires_grad=True)
    loss, _ = rpo_loss(logp, torch.zeros(2), torch.tensor([10.0, -10.0]), None, 0.2, 0.0, 5.0)
    assert loss.tolist() == [-5.0, 5.0]


def test_kl_needs_an_estimate():
    with pytest.raises(ValueError, match="KL estimate"):
        rpo_loss(torch.zeros(1), torch.zeros(1), torch.ones(1), None, 0.2, 0.01, 5.0)


def test_closed_form_is_the_gaussian_kl_per_element_and_sample_is_the_log_ratio():
    g = torch.Generator().manual_seed(0)
    mean, ref = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    std = torch.tensor([0.1, 0.2, 0.3])
    p = torch.distributions.Normal(mean.double(), std.double().reshape(3, 1, 1))
    q = torch.distributions.Normal(ref.double(), std.double().reshape(3, 1, 1))
    exact = torch.distributions.kl_divergence(p, q).reshape(3, -1).mean(1)
    assert torch.allclose(closed_form_kl(mean, ref, std).double(), exact, rtol=1e-5)
    x = torch.randn(3, 4, 5, generator=g)
    logp = gaussian_log_prob(x, mean, std.reshape(3, 1, 1))
    got = kl_to_reference("sample", mean, std, x, logp, ref)
    assert torch.allclose(got, logp - gaussian_log_prob(x, ref, std.reshape(3, 1, 1)))
    with pytest.raises(ValueError, match="kl_estimator"):
        kl_to_reference("exact", mean, std, x, logp, ref)  # type: ignore[arg-type]


def test_expected_kl_gradient_pulls_toward_the_reference_only_in_closed_form():
    # One SDE step whose "policy" is its velocity v (64 elements), the reference another velocity.
    # Over many transitions x' drawn from the policy, the mean gradient of the KL term w.r.t. v:
    # closed form follows the analytic gradient of the exact KL; the paper's sampled form averages
    # to zero (its gradient is grad log pi(x'), whose expectation under pi is zero).
    g = torch.Generator().manual_seed(0)
    n, draws = 64, 20_000
    x, v_ref = torch.randn(1, n, generator=g), torch.randn(1, n, generator=g)
    v0 = v_ref + 0.3 * torch.randn(1, n, generator=g)
    sigma, sigma_next, eta = 0.75, 0.6429, 0.3
    # independent analytic gradient (float64, from the expanded mean mu = a*x + b*v):
    # KL = mean over elements of (b (v - v_ref))^2 / (2 s^2)  ->  dKL/dv = b^2 (v - v_ref) / (s^2 n)
    d = sigma_next - sigma
    b = d * (1 + eta**2 * (1 - sigma) / (2 * sigma))
    s2 = eta**2 * (sigma - sigma_next)
    analytic = (b**2 * (v0.double() - v_ref.double()) / (s2 * n)).reshape(-1)

    def mean_gradient(estimator: str) -> torch.Tensor:
        v = v0.clone().requires_grad_(True)
        xs, vs = x.expand(draws, n), v.expand(draws, n)
        pol = sde_step_with_logprob(xs, vs, sigma, sigma_next, eta, generator=torch.Generator().manual_seed(1))
        ref = sde_step_with_logprob(xs, v_ref.expand(draws, n), sigma, sigma_next, eta, prev_sample=pol.prev_sample)
        kl = kl_to_reference(estimator, pol.mean, pol.std, pol.prev_sample, pol.log_prob, ref.mean)  # type: ignore[arg-type]
        kl.mean().backward()
        assert v.grad is not None
        return v.grad.double().reshape(-1)

    closed, sampled = mean_gradient("closed_form"), mean_gradient("sample")
    assert torch.nn.functional.cosine_similarity(closed, analytic, dim=0) > 0.9
    assert torch.allclose(closed, analytic, rtol=1e-3)
    # the sampled form's mean gradient is Monte-Carlo noise: ~2 % of the analytic norm at 20k draws
    assert sampled.norm() < 0.1 * analytic.norm()
