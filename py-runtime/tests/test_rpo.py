import math

import pytest
import torch

from autorubric_runtime.rpo import rpo_loss


def test_on_policy_loss_is_minus_advantage_plus_kl():
    logp = torch.tensor([1.0, 2.0], requires_grad=True)
    ref = torch.tensor([0.5, 2.5])
    adv = torch.tensor([1.0, -0.1])
    loss, m = rpo_loss(logp, logp.detach().clone(), ref, adv, 0.2, 0.01, 5.0)
    assert torch.allclose(loss, -adv + 0.01 * (logp.detach() - ref))
    assert m["ratio_mean"] == 1.0 and m["clip_frac"] == 0.0 and m["approx_kl"] == 0.0
    assert m["kl"] == pytest.approx(0.0) and m["policy_loss"] == pytest.approx(-0.45)


def test_clipping_stops_the_gradient_only_in_the_improving_direction():
    old = torch.zeros(2)
    logp = torch.full((2,), math.log(1.5), requires_grad=True)  # ratio 1.5, outside 1 +- 0.2
    adv = torch.tensor([1.0, -1.0])
    loss, m = rpo_loss(logp, old, None, adv, 0.2, 0.0, 5.0)
    assert loss[0].item() == pytest.approx(-1.2)  # clipped: no more credit for a positive advantage
    assert loss[1].item() == pytest.approx(1.5)  # unclipped: the penalty keeps its gradient
    loss.sum().backward()
    assert logp.grad[0] == 0 and logp.grad[1] == pytest.approx(1.5)
    assert m["clip_frac"] == 1.0


def test_advantages_are_clamped():
    logp = torch.zeros(2, requires_grad=True)
    loss, _ = rpo_loss(logp, torch.zeros(2), None, torch.tensor([10.0, -10.0]), 0.2, 0.0, 5.0)
    assert loss.tolist() == [-5.0, 5.0]


def test_kl_needs_reference():
    with pytest.raises(ValueError, match="ref_logp"):
        rpo_loss(torch.zeros(1), torch.zeros(1), None, torch.ones(1), 0.2, 0.01, 5.0)


def test_kl_term_pulls_towards_reference():
    logp = torch.tensor([0.3], requires_grad=True)
    loss, m = rpo_loss(logp, torch.tensor([0.3]), torch.tensor([0.1]), torch.zeros(1), 0.2, 0.5, 5.0)
    loss.sum().backward()
    assert m["kl_term"] == pytest.approx(0.1) and logp.grad.item() == pytest.approx(0.5)
