import pytest
import torch
from conftest import perturb_lora
from payloads import make_lora, make_model, make_sampler

from autorubric_runtime.lora import (
    ATTENTION_TARGETS,
    attach_lora,
    load_lora,
    lora_state_dict,
    resolve_targets,
    save_lora,
)


def _velocity(adapter, seed=0):
    g = torch.Generator().manual_seed(seed)
    L, C = adapter.latent_shape
    x = torch.randn((2, L, C), generator=g)
    cond = adapter.encode(["a red cat", "two blue dogs"])
    with torch.no_grad():
        return adapter.predict_velocity(x, torch.tensor([0.75, 0.5]), cond)


def test_presets_filter_to_existing_modules_and_lists_are_strict(flux_adapter):
    t = flux_adapter.transformer
    assert resolve_targets(t, "attention") == list(ATTENTION_TARGETS)
    ext = resolve_targets(t, "extended")
    assert "ff_context.net.2" in ext and "add_q_proj" in ext
    assert not any("img_mlp" in n for n in ext)  # Qwen-only names filtered for FLUX
    with pytest.raises(ValueError, match="no_such_layer"):
        resolve_targets(t, ["to_q", "no_such_layer"])
    with pytest.raises(ValueError, match="preset"):
        resolve_targets(t, "everything")


def test_save_then_pipeline_load_lora_weights_reproduces_exactly(flux_adapter, tiny_flux_dir, tmp_path):
    from diffusers import FluxPipeline

    # alpha != rank: without the adapter metadata diffusers would reload at the wrong strength
    attach_lora(flux_adapter.transformer, make_lora(rank=4, alpha=16, targets="extended"))
    perturb_lora(flux_adapter.transformer)
    expected = _velocity(flux_adapter)
    save_lora(flux_adapter, tmp_path / "lora", make_lora(rank=4, alpha=16, targets="extended"))
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").is_file()

    pipe = FluxPipeline.from_pretrained(str(tiny_flux_dir))
    pipe.load_lora_weights(str(tmp_path / "lora"))
    ad = type(flux_adapter)(pipe, 32, 32, 3.5, torch.device("cpu"), torch.float32)
    assert torch.equal(_velocity(ad), expected)


def test_load_lora_refuses_another_rank_and_a_folder_without_weights(flux_adapter, tiny_flux_dir, tmp_path):
    from autorubric_runtime.models.base import load_adapter

    attach_lora(flux_adapter.transformer, make_lora(rank=4, alpha=8))
    save_lora(flux_adapter, tmp_path / "lora", make_lora(rank=4, alpha=8))
    other = load_adapter(make_model(tiny_flux_dir), make_sampler(height=32, width=32), "cpu")
    attach_lora(other.transformer, make_lora(rank=8, alpha=8))
    with pytest.raises(ValueError, match="rank/targets"):
        load_lora(other, tmp_path / "lora")
    with pytest.raises(FileNotFoundError, match="no pytorch_lora_weights"):
        load_lora(other, tmp_path)


def test_save_accepts_a_gathered_state_dict(flux_adapter, tmp_path):
    from autorubric_runtime.lora import gather_lora_state_dict

    attach_lora(flux_adapter.transformer, make_lora(rank=4, alpha=8))
    perturb_lora(flux_adapter.transformer)
    gathered = gather_lora_state_dict(flux_adapter.transformer)
    direct = lora_state_dict(flux_adapter.transformer)
    assert gathered.keys() == direct.keys() and all(torch.equal(gathered[k], direct[k]) for k in direct)
    save_lora(flux_adapter, tmp_path / "lora", None, state_dict=gathered)
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").is_file()


def test_saved_files_are_byte_identical_for_equal_tensors(tiny_flux_dir, tmp_path):
    # Two "runs" (fresh models, targets listed in another order) holding the same LoRA tensors, each
    # saved several times: safetensors keeps its header metadata in a hash map whose order changed
    # from save to save, which made equal LoRAs differ in bytes.
    from safetensors import safe_open

    from autorubric_runtime.models.base import load_adapter

    files = []
    for run, targets in enumerate([("to_q", "to_k", "to_v"), ("to_v", "to_q", "to_k")]):
        ad = load_adapter(make_model(tiny_flux_dir), make_sampler(height=32, width=32), "cpu")
        cfg = make_lora(rank=4, alpha=8, targets=targets)
        attach_lora(ad.transformer, cfg)
        perturb_lora(ad.transformer, seed=5)
        for k in range(4):
            out = save_lora(ad, tmp_path / f"run{run}-save{k}", cfg)
            files.append((out / "pytorch_lora_weights.safetensors").read_bytes())
    assert all(f == files[0] for f in files)
    with safe_open(str(tmp_path / "run0-save0" / "pytorch_lora_weights.safetensors"), framework="pt") as f:
        assert set(f.metadata()) == {"format", "lora_adapter_metadata"} and len(list(f.keys())) > 0
