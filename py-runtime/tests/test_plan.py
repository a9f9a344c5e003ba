"""Parameter counts of `arr plan`: real classes built from the shipped configs on the meta device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from autorubric_runtime.lora import attach_lora, lora_parameters
from autorubric_runtime.plan import build_on_meta, count_parameters
from autorubric_runtime.run_config import LoraCfg

MODELS = Path(__file__).resolve().parents[2] / "configs" / "models"

# Published sizes: FLUX.1-dev model card (12B; diffusers counts 11.90 B), T5-XXL encoder 4.76 B,
# CLIP ViT-L/14 text tower 123 M, Qwen-Image report (20 B; 20.43 B), Qwen2.5-VL-7B 8.29 B.
PUBLISHED = [
    ("flux.1-dev/transformer", 11.9e9),
    ("flux.1-dev/text_encoder_2", 4.76e9),
    ("flux.1-dev/text_encoder", 123e6),
    ("qwen-image-edit-2509/transformer", 20.4e9),
    ("qwen-image-edit-2509/text_encoder", 8.29e9),
]


def _count(*components: str, lora: dict | None = None) -> dict:
    return count_parameters(
        {
            "components": [{"name": c, "config_file": str(MODELS / c / "config.json")} for c in components],
            "lora": lora,
        }
    )


@pytest.mark.parametrize(("component", "published"), PUBLISHED)
def test_counts_match_the_published_sizes(component: str, published: float) -> None:
    [row] = _count(component)["components"]
    assert row["params"] == pytest.approx(published, rel=0.01)


def test_components_are_built_on_meta_without_weights() -> None:
    module = build_on_meta(MODELS / "flux.1-dev" / "vae" / "config.json")
    assert {p.device.type for p in module.parameters()} == {"meta"}
    assert type(module).__name__ == "AutoencoderKL"


def test_lora_count_equals_the_adapter_peft_attaches(tiny_flux_dir: Path) -> None:
    for targets in ("attention", "extended", ["to_q", "proj_mlp"]):
        counted = count_parameters(
            {
                "components": [
                    {"name": "transformer", "config_file": str(tiny_flux_dir / "transformer" / "config.json")}
                ],
                "lora": {"component": "transformer", "rank": 3, "targets": targets},
            }
        )["lora"]
        from diffusers import FluxTransformer2DModel

        real = FluxTransformer2DModel.from_pretrained(tiny_flux_dir, subfolder="transformer", torch_dtype=torch.float32)
        attach_lora(real, LoraCfg(rank=3, alpha=6, dropout=0.0, targets=targets, init_from=None))
        params = lora_parameters(real)
        assert counted["params"] == sum(p.numel() for p in params)
        assert counted["layers"] == len(params) // 2  # lora_A and lora_B per layer


def test_flux_attention_lora_hits_double_and_single_blocks() -> None:
    lora = _count(
        "flux.1-dev/transformer", lora={"component": "flux.1-dev/transformer", "rank": 16, "targets": "attention"}
    )["lora"]
    # 19 double blocks x 4 image-stream projections + 38 single blocks x 3 (no to_out there), all 3072 -> 3072
    assert lora["layers"] == 19 * 4 + 38 * 3
    assert lora["params"] == lora["layers"] * 16 * (3072 + 3072)


def test_a_config_without_a_class_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ValueError, match=str(bad)):
        build_on_meta(bad)
