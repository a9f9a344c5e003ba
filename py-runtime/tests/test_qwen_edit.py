"""Qwen-Image-Edit-2509 adapter on the tiny offline model (same code path as the real checkpoint)."""

from __future__ import annotations

import copy
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from payloads import make_lora, make_model, make_sampler
from PIL import Image

from autorubric_runtime.models import load_adapter
from autorubric_runtime.models.qwen_edit import QwenEditAdapter, QwenEditCondition
from autorubric_runtime.models.tiny_qwen_edit import (
    SPECIAL_TOKENS,
    TINY_LATENTS_MEAN,
    TINY_LATENTS_STD,
    TinyQwenEditSpec,
    build_components,
    build_tokenizer,
)

H = W = 64
MODEL = make_model("tiny", family="qwen-edit")
SAMPLER = make_sampler(height=H, width=W, steps=4, eta=0.3, shift=3.0)


@pytest.fixture(scope="module")
def tiny_qwen_dir(tiny_cache: Path) -> Path:
    from autorubric_runtime.models.tiny import ensure_tiny

    return ensure_tiny("qwen-edit", cache_dir=tiny_cache)


@pytest.fixture(scope="module")
def adapter(tiny_cache: Path, tiny_qwen_dir: Path) -> QwenEditAdapter:
    # Through load_adapter's "tiny" path, i.e. the same from_pretrained code as a real checkpoint.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARR_CACHE", str(tiny_cache))
        a = load_adapter(MODEL, SAMPLER, device="cpu")
    assert isinstance(a, QwenEditAdapter)
    return a


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(0)
    paths = []
    # Not 64x64 and not square: the runtime must resize to the configured size itself.
    for i, (h, w) in enumerate([(80, 96), (50, 70)]):
        p = d / f"src{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_tiny_model_builds_and_round_trips_through_from_pretrained(
    adapter: QwenEditAdapter, tiny_qwen_dir: Path
) -> None:
    folder = tiny_qwen_dir
    for sub in ("transformer", "vae", "text_encoder", "tokenizer", "processor", "scheduler"):
        assert (folder / sub).is_dir(), sub
    assert (folder / "model_index.json").is_file()
    fresh = build_components(TinyQwenEditSpec())
    for name in ("transformer", "vae", "text_encoder"):
        want = fresh[name].state_dict()
        got = getattr(adapter, name).state_dict()
        assert set(want) == set(got), name
        for k, v in want.items():
            assert torch.equal(v, got[k]), f"{name}.{k} changed through save/from_pretrained"
    text = "<|im_start|>user\nPicture 1: <|vision_start|><|image_pad|><|vision_end|>Make it Red!<|im_end|>"
    assert adapter.tokenizer(text)["input_ids"] == build_tokenizer()(text)["input_ids"]
    cfg = adapter.text_encoder.config
    ids = {t: adapter.tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    assert len(set(ids.values())) == len(SPECIAL_TOKENS)
    assert (cfg.image_token_id, cfg.vision_start_token_id, cfg.vision_end_token_id) == (
        ids["<|image_pad|>"],
        ids["<|vision_start|>"],
        ids["<|vision_end|>"],
    )
    # Special tokens match inside running text (AddedToken normalized=False), one id each.
    enc = adapter.tokenizer("x<|vision_start|><|image_pad|>y", add_special_tokens=False)["input_ids"]
    assert enc[1:3] == [ids["<|vision_start|>"], ids["<|image_pad|>"]] and len(enc) == 4
    assert type(adapter.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    assert adapter.image_processor.size["longest_edge"] == TinyQwenEditSpec().max_pixels
    assert "torchvision" not in sys.modules
    assert adapter.vae_scale_factor == 4 and adapter.latent_shape == ((H // 8) * (W // 8), 16)


def _expected_text_len(prompt: str, image_tokens: int) -> int:
    # byte-level tokenizer without merges: one token per UTF-8 byte, one per special token
    return len(b"Picture 1: ") + 1 + image_tokens + 1 + len(prompt.encode()) + 1 + 1 + 1 + len(b"assistant\n")


def test_encode_pads_masks_drops_the_template_prefix_and_caches(adapter: QwenEditAdapter, sources) -> None:
    template = adapter.prompt_template
    prefix = template.split("{}")[0]
    plain = prefix
    for t in SPECIAL_TOKENS:
        plain = plain.replace(t, "")
    # computed from the tokenizer: 3 special tokens + one per byte here (64 only for the real tokenizer)
    assert adapter.template_start_idx == prefix.count("<|") + len(plain.encode())
    assert adapter.template_start_idx != 64

    calls = []
    hook = adapter.text_encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        prompts = ["make it red", "put a small blue hat on the cat, keep the background"]
        cond = adapter.encode(prompts, [sources[0], sources[0]])
        assert len(calls) == 2
        # A 64x64 source goes to the VL encoder at ~384^2 area, then the processor caps it at 112^2:
        # 84x84 pixels = 6x6 patches = 3x3 merged tokens.
        lens = [_expected_text_len(p, 9) for p in prompts]
        assert cond.prompt_embeds.shape == (2, max(lens), 16)
        assert cond.prompt_mask.sum(dim=1).tolist() == lens
        assert cond.prompt_mask.dtype == torch.long
        assert torch.all(cond.prompt_embeds[0, lens[0] :] == 0) and torch.all(cond.prompt_mask[0, lens[0] :] == 0)
        assert cond.img_shapes == [[(1, 8, 8), (1, 8, 8)]] * 2
        assert cond.image_latents.shape == (2, 64, 16)

        # Same (prompt, source) pairs in another order: served from the cache.
        again = adapter.encode(prompts[::-1], [sources[0], sources[0]])
        assert len(calls) == 2
        assert torch.equal(again.prompt_embeds[1, : lens[0]], cond.prompt_embeds[0, : lens[0]])
        # Same prompt, other source: a new entry, and the VL encoder sees the image.
        other = adapter.encode(prompts[:1], [sources[1]])
        assert len(calls) == 3
        assert not torch.allclose(other.prompt_embeds[0], cond.prompt_embeds[0, : lens[0]])
    finally:
        hook.remove()

    # Independent computation of the first sample: full token ids through the HF encoder, prefix sliced off.
    src = adapter.load_source(sources[0])
    assert src.size == (W, H)
    vl = src.resize((384, 384), Image.LANCZOS)
    vis = adapter.image_processor(images=[vl], return_tensors="pt")
    assert vis["image_grid_thw"].tolist() == [[1, 6, 6]]
    text = template.format("Picture 1: <|vision_start|>" + "<|image_pad|>" * 9 + "<|vision_end|>" + prompts[0])
    ids = adapter.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hs = adapter.text_encoder(
            **ids, pixel_values=vis["pixel_values"], image_grid_thw=vis["image_grid_thw"], output_hidden_states=True
        ).hidden_states[-1][0]
    torch.testing.assert_close(cond.prompt_embeds[0, : lens[0]], hs[adapter.template_start_idx :], rtol=1e-5, atol=1e-5)

    # Source latents: VAE mode of the resized source, normalised per channel with the config's mean/std, packed.
    pix = torch.from_numpy(np.asarray(src, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None, :, None]
    with torch.no_grad():
        z = adapter.vae.encode(pix).latent_dist.mode()
    mean = torch.tensor(TINY_LATENTS_MEAN).view(1, 4, 1, 1, 1)
    std = torch.tensor(TINY_LATENTS_STD).view(1, 4, 1, 1, 1)
    zn = ((z - mean) / std)[:, :, 0]  # (1, 4, 16, 16)
    packed = zn.reshape(1, 4, 8, 2, 8, 2).permute(0, 2, 4, 1, 3, 5).reshape(1, 64, 16)
    torch.testing.assert_close(cond.image_latents[0:1], packed, rtol=1e-4, atol=1e-4)


def test_encode_rejects_bad_sources(adapter: QwenEditAdapter, sources, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.png"):
        adapter.encode(["x"], [str(tmp_path / "nope.png")])
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="bad.png"):
        adapter.encode(["x"], [str(bad)])
    with pytest.raises(ValueError, match="one source"):
        adapter.encode(["x", "y"], [sources[0]])
    with pytest.raises(ValueError, match="source image"):
        adapter.encode(["x"], None)


def test_encode_cache_is_bounded_and_kept_on_cpu(adapter: QwenEditAdapter, sources) -> None:
    small = copy.copy(adapter)
    small._cache = OrderedDict()
    small.cache_size = 1
    calls = []
    hook = adapter.text_encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        for p in ("a", "b", "b", "a"):
            small.encode([p], [sources[0]])
    finally:
        hook.remove()
    assert len(calls) == 3  # "b" hit once; "a" was evicted by "b"
    assert list(small._cache) == [("a", sources[0])]
    assert small._cache[("a", sources[0])].prompt_embeds.device.type == "cpu"


def test_predict_velocity_drops_condition_tokens_and_batches_exactly(adapter: QwenEditAdapter, sources) -> None:
    cond = adapter.encode(["make it red", "a much longer instruction: turn the sky purple"], sources)
    assert cond.prompt_mask[0].sum() < cond.prompt_mask[1].sum()  # padding is exercised
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, *adapter.latent_shape, generator=g)
    sigma = torch.tensor([0.964, 0.5])
    with torch.no_grad():
        v = adapter.predict_velocity(x, sigma, cond)
        assert v.shape == x.shape and v.dtype == torch.float32
        singles = torch.cat([adapter.predict_velocity(x[i : i + 1], sigma[i : i + 1], cond.index(i)) for i in range(2)])
        torch.testing.assert_close(v, singles, rtol=0, atol=1e-5)
        # The source latents reach the transformer.
        moved = QwenEditCondition.cat([cond.index(0), cond.index(1)])
        moved.image_latents = moved.image_latents + 1.0
        assert (adapter.predict_velocity(x, sigma, moved) - v).abs().max() > 1e-3
    # index/cat round trip keeps padding consistent
    back = QwenEditCondition.cat([cond.index(1), cond.index(0)])
    assert torch.equal(back.prompt_mask, cond.prompt_mask.flip(0))
    assert back.img_shapes == cond.img_shapes


def test_matches_the_diffusers_edit_plus_pipeline(adapter: QwenEditAdapter, sources, monkeypatch) -> None:
    """The pipeline's own transformer inputs/outputs and decoding equal ours (pipeline sizes lowered to 64^2)."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as m

    monkeypatch.setattr(m, "VAE_IMAGE_SIZE", H * W)
    cond = adapter.encode(["make it red"], [sources[0]])
    src = adapter.load_source(sources[0])
    seen = []
    hook = adapter.transformer.register_forward_hook(
        lambda mod, args, kwargs, out: seen.append((kwargs, out[0])), with_kwargs=True
    )
    pipe = adapter.pipe
    pipe.set_progress_bar_config(disable=True)
    common = dict(
        image=[src],
        prompt_embeds=cond.prompt_embeds,
        prompt_embeds_mask=cond.prompt_mask,
        height=H,
        width=W,
        num_inference_steps=2,
        true_cfg_scale=1.0,
    )
    try:
        latents = pipe(**common, output_type="latent", generator=torch.Generator().manual_seed(0)).images
    finally:
        hook.remove()
    pixels = pipe(**common, output_type="pt", generator=torch.Generator().manual_seed(0)).images
    kwargs, out = seen[0]
    n = adapter.latent_shape[0]
    assert kwargs["img_shapes"] == cond.img_shapes
    torch.testing.assert_close(kwargs["hidden_states"][:, n:], cond.image_latents, rtol=0, atol=1e-6)
    with torch.no_grad():
        v = adapter.predict_velocity(kwargs["hidden_states"][:, :n], kwargs["timestep"], cond)
    torch.testing.assert_close(v, out[:, :n], rtol=0, atol=1e-6)
    torch.testing.assert_close(adapter.decode(latents), pixels, rtol=0, atol=1e-5)


def test_lora_targets_and_the_stock_pipeline_reloads_the_saved_file(
    adapter: QwenEditAdapter, sources, tmp_path: Path
) -> None:
    from autorubric_runtime import lora

    base = copy.deepcopy(adapter.transformer)
    names = {n for n, _ in base.named_modules()}
    assert lora.resolve_targets(base, "attention") == ["to_q", "to_k", "to_v", "to_out.0"]
    extended = lora.resolve_targets(base, "extended")
    assert set(extended) == {
        "to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
        "img_mlp.net.0.proj", "img_mlp.net.2", "txt_mlp.net.0.proj", "txt_mlp.net.2",
    }  # fmt: skip
    assert "transformer_blocks.1.txt_mlp.net.2" in names

    cond = adapter.encode(["make it red"], [sources[0]])
    x = torch.randn(1, *adapter.latent_shape, generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([0.75])
    trained = copy.copy(adapter)
    trained.transformer = base
    lora.attach_lora(base, make_lora(rank=4, alpha=8, targets="extended"))
    wrapped = [n for n, mod in base.named_modules() if hasattr(mod, "lora_A")]
    assert len(wrapped) == 12 * TinyQwenEditSpec().layers
    with torch.no_grad():
        v0 = adapter.predict_velocity(x, sigma, cond)
        g = torch.Generator().manual_seed(3)
        for p in lora.lora_parameters(base):
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
        v1 = trained.predict_velocity(x, sigma, cond)
        assert (v1 - v0).abs().max() > 1e-3

    lora.save_lora(trained, tmp_path / "lora", make_lora(rank=4, alpha=8, targets="extended"))
    # The stock diffusers pipeline reloads it at the same strength (alpha from the adapter metadata).
    reloaded = copy.copy(adapter)
    reloaded.transformer = copy.deepcopy(adapter.transformer)
    from diffusers import QwenImageEditPlusPipeline

    pipe = QwenImageEditPlusPipeline(
        scheduler=adapter.pipe.scheduler, vae=adapter.vae, text_encoder=adapter.text_encoder,
        tokenizer=adapter.tokenizer, processor=None, transformer=reloaded.transformer,
    )  # fmt: skip
    pipe.load_lora_weights(str(tmp_path / "lora"))
    with torch.no_grad():
        torch.testing.assert_close(reloaded.predict_velocity(x, sigma, cond), v1, rtol=0, atol=1e-6)


def test_tiny_decoder_makes_pixels_follow_the_latents(adapter: QwenEditAdapter) -> None:
    """The constructed tiny decoder: red rises monotonically with latent channel 0, green stays put."""
    levels = [-1.0, -0.5, 0.0, 0.5, 1.0]
    x = torch.zeros(len(levels), *adapter.latent_shape)
    for i, d in enumerate(levels):
        x[i, :, 0:4] = d  # packed columns 0..3 = latent channel 0 of each 2x2 patch
    means = adapter.decode(x).mean(dim=(2, 3))  # (5, 3)
    red, green = means[:, 0], means[:, 1]
    assert torch.all(red[1:] > red[:-1] + 0.02), red
    assert float(red[-1] - red[0]) > 0.3
    assert float(green.max() - green.min()) < 0.02
    # Random latents give images that differ from each other pixel by pixel, not one flat colour.
    noise = adapter.decode(torch.randn(2, *adapter.latent_shape, generator=torch.Generator().manual_seed(5)))
    assert float(noise.std(dim=(2, 3)).min()) > 0.05
    assert float((noise[0] - noise[1]).abs().mean()) > 0.05


def test_a_bf16_model_sees_the_exact_quantised_timesteps(adapter: QwenEditAdapter, sources) -> None:
    # Qwen-Image casts the timestep to the latents' dtype: in bf16 S = 10's 0.874 would become 0.875.
    from autorubric_runtime.schedule import model_timesteps, sigmas

    cond = adapter.encode(["make it red"], sources[:1])
    bf16 = copy.deepcopy(adapter)  # the hook travels with its transformer
    bf16.transformer.to(torch.bfloat16)
    bf16.dtype = torch.bfloat16
    seen: list[torch.Tensor] = []
    bf16.transformer.time_text_embed.time_proj.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    ts = model_timesteps(sigmas(10, 3.0))[:10]
    x = torch.randn(1, *adapter.latent_shape)
    with torch.no_grad():
        for t in ts:
            bf16.predict_velocity(x, t.reshape(1), cond)
    assert [float(s) for s in seen] == [float(t) for t in ts]
    assert round(float(seen[3]) * 1000) == 874
    assert float(ts[3].to(torch.bfloat16)) == 0.875  # the stock cast, so the assertions above can fail
