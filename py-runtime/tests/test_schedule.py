import pytest
import torch

from autorubric_runtime.schedule import model_timesteps, sigmas, timestep_ints


def test_flux_schedule_integers_s8():
    s = sigmas(8, 3.0)
    assert timestep_ints(s[:-1]) == [1000, 954, 900, 833, 750, 642, 500, 300]
    assert s.dtype == torch.float32 and s[0] == 1 and s[-1] == 0


def test_qwen_schedule_integers_s10_float32_truncation():
    # 0.875 lands just under 875 and 0.25 gives 250 only in float32: pinned on purpose
    assert timestep_ints(sigmas(10, 3.0)[:-1]) == [1000, 964, 923, 874, 818, 750, 666, 562, 428, 250]


def test_sigmas_follow_the_shift_formula():
    s = sigmas(8, 3.0)
    t = 1 - torch.arange(9, dtype=torch.float64) / 8
    expected = 3 * t / (1 + 2 * t)
    assert torch.allclose(s.double(), expected, atol=1e-7)
    assert torch.allclose(sigmas(5, 1.0), torch.linspace(1, 0, 6), atol=1e-7)  # shift 1 is linear
    assert torch.all(s[1:] < s[:-1])


def test_model_timesteps_are_quantised_values():
    s = sigmas(8, 3.0)
    q = model_timesteps(s)
    assert torch.allclose(q * 1000, torch.tensor(timestep_ints(s), dtype=torch.float32), atol=1e-4)
    assert torch.all(q <= s)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="steps"):
        sigmas(0, 3.0)
    with pytest.raises(ValueError, match="shift"):
        sigmas(8, 0.0)
