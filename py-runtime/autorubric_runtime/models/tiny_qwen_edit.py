"""A tiny, offline Qwen-Image-Edit-2509 built from configs with seeded random weights.

It is written to a diffusers-style folder (transformer/, vae/, text_encoder/, tokenizer/, processor/,
scheduler/, model_index.json) so that the adapter loads it through the same ``from_pretrained`` path
as the real model; ``models.tiny.ensure_tiny("qwen-edit")`` calls :func:`save_tiny_qwen_edit` and
caches that folder (``$ARR_CACHE`` or ``py-runtime/.cache``).

Nothing is downloaded: the tokenizer is built in code (byte-level BPE without merges, so every text
is encodable, plus the Qwen2 special tokens) and the image processor is the PIL one (torchvision is
not installed and must not be). The VAE decoder is constructed rather than random (see
:func:`construct_decoder`) so that pixels respond to the latents.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

#: Bumped whenever the recipe changes so that stale cached folders are rebuilt.
RECIPE_VERSION = 1

#: The Qwen2 special tokens the Edit-Plus prompt template and the VL encoder rely on.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Per-channel VAE latent statistics; deliberately not 0/1 so that the normalisation path is exercised.
TINY_LATENTS_MEAN = [0.1, -0.2, 0.05, 0.0]
TINY_LATENTS_STD = [1.5, 0.8, 1.2, 1.0]

#: The Qwen-Image scheduler config (ignored by the static RPO schedule, kept for pipeline parity).
QWEN_SCHEDULER_CONFIG = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "invert_sigmas": False,
    "max_image_seq_len": 8192,
    "max_shift": 0.9,
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "shift_terminal": 0.02,
    "stochastic_sampling": False,
    "time_shift_type": "exponential",
    "use_beta_sigmas": False,
    "use_dynamic_shifting": True,
    "use_exponential_sigmas": False,
    "use_karras_sigmas": False,
}


@dataclass(frozen=True)
class TinyQwenEditSpec:
    """Sizes of the tiny model. The defaults keep a 64x64 edit well under a second on one CPU core."""

    #: Seed for every random weight.
    seed: int = 0
    #: Qwen2.5-VL language model width (= transformer joint_attention_dim).
    text_hidden: int = 16
    text_layers: int = 2
    #: Vision tower width and depth.
    vision_hidden: int = 16
    vision_depth: int = 2
    #: Image processor pixel bounds (multiples of (patch*merge)^2 = 28^2): 56^2..112^2 => 4..16 image tokens.
    min_pixels: int = 56 * 56
    max_pixels: int = 112 * 112
    #: Transformer: head dim 16 = sum(axes_dims_rope).
    layers: int = 2
    heads: int = 3
    head_dim: int = 16
    axes_dims_rope: tuple[int, int, int] = (8, 4, 4)
    #: VAE: dim_mult of length 3 => spatial factor 4 (vae_scale_factor = 2**len(temperal_downsample)).
    vae_base_dim: int = 12
    z_dim: int = 4


def build_tokenizer():
    """A Qwen2-like fast tokenizer: byte-level BPE without merges plus the special tokens.

    The special tokens are ``AddedToken(special=True, normalized=False)`` so that they are matched inside
    running text (the chat template puts ``<|image_pad|>`` right after ``<|vision_start|>``).
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=32768,
        padding_side="right",
    )


def build_components(spec: TinyQwenEditSpec | None = None) -> dict:
    """Builds every component in memory with seeded random weights (fp32, CPU)."""
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    spec = spec or TinyQwenEditSpec()
    tokenizer = build_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim_text = spec.text_hidden // 2
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": spec.text_hidden,
            "intermediate_size": spec.text_hidden,
            "num_hidden_layers": spec.text_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            # mrope sections must sum to head_dim / 2.
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1_000_000.0,
                "mrope_section": [1, 1, head_dim_text // 2 - 2],
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": spec.vision_depth,
            "hidden_size": spec.vision_hidden,
            "intermediate_size": spec.vision_hidden,
            "num_heads": 2,
            "out_hidden_size": spec.text_hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [spec.vision_depth - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
        transformer = QwenImageTransformer2DModel(
            patch_size=2,
            in_channels=4 * spec.z_dim,
            out_channels=spec.z_dim,
            num_layers=spec.layers,
            attention_head_dim=spec.head_dim,
            num_attention_heads=spec.heads,
            joint_attention_dim=spec.text_hidden,
            axes_dims_rope=tuple(spec.axes_dims_rope),
        ).eval()
        vae = AutoencoderKLQwenImage(
            base_dim=spec.vae_base_dim,
            z_dim=spec.z_dim,
            dim_mult=[1, 2, 4],
            num_res_blocks=1,
            temperal_downsample=[False, True],
            latents_mean=list(TINY_LATENTS_MEAN),
            latents_std=list(TINY_LATENTS_STD),
        ).eval()
        construct_decoder(vae)
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=spec.min_pixels, max_pixels=spec.max_pixels, patch_size=14, temporal_patch_size=2, merge_size=2
    )
    scheduler = FlowMatchEulerDiscreteScheduler(**QWEN_SCHEDULER_CONFIG)
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "transformer": transformer,
        "vae": vae,
        "image_processor": image_processor,
        "scheduler": scheduler,
    }


#: latent -> RGB projection the constructed decoder writes (rows: R, G, B; columns: latent channels).
DECODER_RGB_PROJECTION = [[0.9, 0.0, 0.0, 0.3], [0.0, 0.9, 0.0, 0.3], [0.0, 0.0, 0.9, 0.3]]


@torch.no_grad()
def construct_decoder(vae: torch.nn.Module, texture: float = 0.05, constant: float = 8.0, gain: float = 1.6) -> None:
    """Set the decoder's weights so that pixel colour is a strong, monotonic function of the latents.

    A random decoder maps every latent to nearly the same image, so an offline pixel-rule judge would
    see no difference between candidates (runtime notes, section 17). Here conv_in writes
    ``DECODER_RGB_PROJECTION @ z`` into feature channels 0..2 and a large constant into channel 3; the
    residual stream carries them unchanged (residual and attention branches are scaled to ``texture``,
    which leaves a little random texture), the upsamplers copy those channels (nearest upsampling), and
    the per-pixel RMS norm of the head divides by ~``constant`` (the constant channel dominates the
    norm), so the head sees ``z`` scaled into SiLU's monotonic range and conv_out reads channels 0..2
    back. The encoder stays random: it only has to be deterministic for the conditioning.
    """
    from diffusers.models.autoencoders.autoencoder_kl_qwenimage import (
        QwenImageAttentionBlock,
        QwenImageResample,
        QwenImageResidualBlock,
    )

    dec = vae.decoder
    z_dim = int(vae.config.z_dim)
    pq = vae.post_quant_conv
    pq.weight.zero_()
    pq.bias.zero_()
    for c in range(z_dim):
        pq.weight[c, c, -1, 0, 0] = 1.0
    # causal 3x3x3 convs on a single frame only use the last temporal tap
    proj = torch.tensor(DECODER_RGB_PROJECTION, dtype=dec.conv_in.weight.dtype)
    dec.conv_in.weight.zero_()
    dec.conv_in.bias.zero_()
    dec.conv_in.weight[:3, :z_dim, -1, 1, 1] = proj[:, :z_dim]
    dec.conv_in.bias[3] = constant
    for module in dec.modules():
        if isinstance(module, QwenImageResidualBlock):
            module.conv2.weight.mul_(texture)
            module.conv2.bias.zero_()
        elif isinstance(module, QwenImageAttentionBlock):
            module.proj.weight.mul_(texture)
            module.proj.bias.zero_()
        elif isinstance(module, QwenImageResample):
            conv = module.resample[1]
            conv.weight.zero_()
            conv.bias.zero_()
            for c in range(4):
                conv.weight[c, c, 1, 1] = 1.0
    dec.conv_out.weight.zero_()
    dec.conv_out.bias.zero_()
    # after the head's RMS norm a signal s sits at about s * sqrt(channels) / constant, inside SiLU's monotonic range
    for c in range(3):
        dec.conv_out.weight[c, c, -1, 1, 1] = gain


def save_tiny_qwen_edit(out_dir: str | os.PathLike, spec: TinyQwenEditSpec | None = None) -> Path:
    """Writes the tiny model as a diffusers-style folder at ``out_dir`` (overwriting it)."""
    spec = spec or TinyQwenEditSpec()
    out = Path(out_dir)
    c = build_components(spec)
    out.mkdir(parents=True, exist_ok=True)
    c["transformer"].save_pretrained(out / "transformer")
    c["vae"].save_pretrained(out / "vae")
    c["text_encoder"].save_pretrained(out / "text_encoder")
    c["tokenizer"].save_pretrained(out / "tokenizer")
    # The real repo keeps the VL image processor (and a copy of the tokenizer) under processor/.
    c["image_processor"].save_pretrained(out / "processor")
    c["tokenizer"].save_pretrained(out / "processor")
    c["scheduler"].save_pretrained(out / "scheduler")
    index = {
        "_class_name": "QwenImageEditPlusPipeline",
        "_diffusers_version": "0.40.0",
        "processor": ["transformers", "Qwen2VLProcessor"],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
        "tokenizer": ["transformers", "Qwen2Tokenizer"],
        "transformer": ["diffusers", "QwenImageTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKLQwenImage"],
    }
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    (out / "tiny_spec.json").write_text(json.dumps({"recipe": RECIPE_VERSION, **asdict(spec)}, indent=2) + "\n")
    return out
