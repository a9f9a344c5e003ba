"""The adapter contract (models/base.py), run over every model family on its tiny offline model.

What the sampler, the trainer and the bridge rely on whatever the family: a rollout with per-step
log-probs, the exact recompute of a stored transition (ratio 1 on the first update), the reference
pass (LoRA scaled to zero is the base model), and LoRA attach / save / reload. Parity with each
family's stock diffusers pipeline stays in test_flux.py and test_qwen_edit.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import perturb_lora
from payloads import make_lora, make_model, make_sampler
from PIL import Image

from autorubric_runtime.lora import (
    attach_lora,
    load_lora,
    lora_parameters,
    lora_state_dict,
    reference_mode,
    save_lora,
)
from autorubric_runtime.models.base import ModelAdapter, load_adapter
from autorubric_runtime.models.tiny import ensure_tiny
from autorubric_runtime.rpo import rpo_loss
from autorubric_runtime.run_config import SamplerCfg
from autorubric_runtime.sampler import init_noise, rollout, transition_log_prob

#: family -> the sampler section its adapter is built with (sizes that keep CPU calls cheap)
FAMILIES: dict[str, SamplerCfg] = {
    "flux": make_sampler(height=32, width=32, guidance=3.5),
    "qwen-edit": make_sampler(height=64, width=64),
}
#: alpha != rank: a reload that ignored the saved alpha would come back at the wrong strength
LORA = make_lora(rank=4, alpha=16, targets="extended")
PROMPTS = ["a red cat", "two blue dogs"]


@dataclass
class Family:
    name: str
    folder: Path
    sources: list[str] | None  # one condition image per prompt for an edit family, else None

    def load(self) -> ModelAdapter:
        """A fresh fp32 CPU adapter (fresh because LoRA mutates the transformer)."""
        return load_adapter(make_model(self.folder, family=self.name), FAMILIES[self.name], device="cpu")

    def encode(self, adapter: ModelAdapter, prompts: list[str]):
        return adapter.encode(prompts, self.sources[: len(prompts)] if self.sources else None)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest, tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Family:
    sources = None
    if request.param == "qwen-edit":
        d = tmp_path_factory.mktemp("sources")
        rng = np.random.default_rng(0)
        sources = []
        for i in range(len(PROMPTS)):
            path = d / f"source{i}.png"
            Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(path)
            sources.append(str(path))
    return Family(request.param, ensure_tiny(request.param, cache_dir=tiny_cache), sources)


def _velocity(family: Family, adapter: ModelAdapter) -> torch.Tensor:
    x = torch.randn((2, *adapter.latent_shape), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return adapter.predict_velocity(x, torch.tensor([0.75, 0.5]), family.encode(adapter, PROMPTS))


def test_rollout_records_the_trajectory_and_decodes_the_judged_image(family: Family, sampler_cfg: SamplerCfg) -> None:
    adapter = family.load()
    cond = family.encode(adapter, PROMPTS).repeat_each(2)  # 2 prompts x 2 candidates, prompt-major
    noise = init_noise(adapter, 2, 2, torch.Generator().manual_seed(0), same_noise=True)
    ro = rollout(adapter, cond, sampler_cfg, torch.Generator().manual_seed(1), init_noise=noise)
    steps = sampler_cfg.steps
    assert ro.latents.shape == (4, steps + 1, *adapter.latent_shape) and ro.sigmas.shape == (steps + 1,)
    assert ro.log_probs is not None and ro.log_probs.shape == (4, steps) and torch.isfinite(ro.log_probs).all()
    # candidates of a prompt start from the same noise and differ through the SDE noise only
    assert torch.equal(ro.latents[0, 0], ro.latents[1, 0]) and not torch.equal(ro.latents[0, 0], ro.latents[2, 0])
    assert not torch.equal(ro.final[0], ro.final[1])
    assert not torch.equal(*init_noise(adapter, 1, 2, torch.Generator().manual_seed(0), same_noise=False))
    assert torch.equal(ro.judged("final"), ro.final) and torch.equal(ro.judged("x0_last"), ro.x0_last)
    images = adapter.decode(ro.judged("x0_last"))
    assert images.shape == (4, 3, FAMILIES[family.name].height, FAMILIES[family.name].width)
    assert images.dtype == torch.float32 and float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    # eta = 0 is deterministic: candidates sharing their initial noise give the same latent
    det = rollout(
        adapter, cond.index([0, 1]), dataclasses.replace(sampler_cfg, eta=0.0), torch.Generator(), init_noise=noise[:2]
    )
    assert det.log_probs is None and torch.equal(det.x0_last[0], det.x0_last[1])


def test_recomputed_transition_log_prob_equals_the_rollout_exactly(family: Family, sampler_cfg: SamplerCfg) -> None:
    adapter = family.load()
    attach_lora(adapter.transformer, LORA)
    perturb_lora(adapter.transformer)
    cond = family.encode(adapter, PROMPTS).repeat_each(2)
    ro = rollout(adapter, cond, sampler_cfg, torch.Generator().manual_seed(2))
    adapter.transformer.train()
    for step in range(sampler_cfg.steps):
        for i in range(4):
            logp = transition_log_prob(adapter, ro, step, torch.tensor([i]))
            assert logp.requires_grad
            assert torch.equal(logp.detach(), ro.log_probs[i : i + 1, step])
            _, m = rpo_loss(logp, ro.log_probs[i : i + 1, step], torch.ones(1), None, 0.2, 0.0, 5.0)
            assert m["ratio_mean"] == 1.0


def test_reference_pass_is_the_base_model(family: Family, sampler_cfg: SamplerCfg) -> None:
    adapter = family.load()
    cond = family.encode(adapter, PROMPTS[:1])
    ro = rollout(adapter, cond, sampler_cfg, torch.Generator().manual_seed(3))
    with torch.no_grad():
        base_logp = transition_log_prob(adapter, ro, 1, torch.tensor([0]))
    base_v = _velocity(family, adapter)
    attach_lora(adapter.transformer, LORA)
    perturb_lora(adapter.transformer)
    with torch.no_grad():
        lora_logp = transition_log_prob(adapter, ro, 1, torch.tensor([0]))
    lora_v = _velocity(family, adapter)
    assert (lora_v - base_v).abs().max() > 1e-4 and not torch.equal(lora_logp, base_logp)
    flags = [p.requires_grad for p in lora_parameters(adapter.transformer)]
    with torch.no_grad(), reference_mode(adapter.transformer):
        assert torch.equal(transition_log_prob(adapter, ro, 1, torch.tensor([0])), base_logp)
        assert torch.equal(_velocity(family, adapter), base_v)
        assert [p.requires_grad for p in lora_parameters(adapter.transformer)] == flags
    assert torch.equal(_velocity(family, adapter), lora_v)  # the LoRA's scale is back


def test_lora_attach_save_and_reload_for_sampling_and_resume(family: Family, tmp_path: Path) -> None:
    adapter = family.load()
    base = _velocity(family, adapter)
    attach_lora(adapter.transformer, LORA)
    trainable = [n for n, p in adapter.transformer.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert torch.equal(_velocity(family, adapter), base)  # B = 0 at init: the first rollout is the base model
    perturb_lora(adapter.transformer, seed=3)
    expected = _velocity(family, adapter)
    save_lora(adapter, tmp_path / "lora", LORA)

    sampling = family.load()
    load_lora(sampling, tmp_path / "lora")  # no LoRA yet: attached from the file's metadata
    assert torch.equal(_velocity(family, sampling), expected)

    resumed = family.load()
    attach_lora(resumed.transformer, LORA)  # resume: the same config attached first, weights copied in
    load_lora(resumed, tmp_path / "lora")
    assert torch.equal(_velocity(family, resumed), expected)
    saved, back = lora_state_dict(adapter.transformer), lora_state_dict(resumed.transformer)
    assert saved.keys() == back.keys() and all(torch.equal(saved[k], back[k]) for k in saved)
