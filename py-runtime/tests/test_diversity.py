import math

import torch

from autorubric_runtime.diversity import latent_spread


def test_spread_is_the_mean_pairwise_rms_distance():
    # Three one-token latents at 0, 1 and 3: pair distances 1, 3, 2 -> mean 2.
    latents = torch.tensor([0.0, 1.0, 3.0]).reshape(3, 1, 1)
    assert latent_spread(latents) == 2.0


def test_rms_is_over_every_element():
    a = torch.zeros(1, 2, 2)
    b = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]])
    # sqrt(mean([4, 0, 0, 0])) = 1
    assert latent_spread(torch.cat([a, b])) == 1.0


def test_identical_samples_have_no_spread_and_one_sample_none_at_all():
    x = torch.randn(1, 4, 3)
    assert latent_spread(torch.cat([x, x, x])) == 0.0
    assert math.isnan(latent_spread(x))
