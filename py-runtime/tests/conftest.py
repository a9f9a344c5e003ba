"""Shared fixtures: the offline tiny FLUX (built once per session) and fresh adapters on it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from payloads import make_model, make_sampler

from autorubric_runtime.run_config import SamplerCfg

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore", message=".*torchvision.*")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine OpenMP spinning costs 10x."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$ARR_CACHE when set (shared with the rest of the suite), else a session temp dir."""
    env = os.environ.get("ARR_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("arr-cache")


@pytest.fixture(scope="session")
def tiny_flux_dir(tiny_cache: Path) -> Path:
    from autorubric_runtime.models.tiny import ensure_tiny

    return ensure_tiny("flux", cache_dir=tiny_cache)


@pytest.fixture
def flux_adapter(tiny_flux_dir: Path):
    """A fresh fp32 CPU tiny-FLUX adapter at 32x32 (4 packed tokens); fresh because LoRA mutates it."""
    from autorubric_runtime.models.base import load_adapter

    torch.manual_seed(0)
    return load_adapter(make_model(tiny_flux_dir), make_sampler(height=32, width=32), device="cpu")


@pytest.fixture
def sampler_cfg() -> SamplerCfg:
    return make_sampler(steps=4, eta=0.3, shift=3.0, height=32, width=32)


def perturb_lora(transformer: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> None:
    """Give every LoRA weight a nonzero value (B starts at zero, which would make LoRA a no-op)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in transformer.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * scale)
