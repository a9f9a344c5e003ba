"""Qwen-Image-Edit-2509 behind the :class:`ModelAdapter` protocol (Edit-Plus pipeline semantics).

The diffusers ``QwenImageEditPlusPipeline`` takes one item at a time (it raises for batch > 1 since
0.37) and resizes condition images to its own areas, so the runtime reimplements its call sequence
around the same components and diffusers' own packing helpers:

- encode: chat template with one picture marker per condition image before the instruction; the
  Qwen2.5-VL encoder sees the source image (pixel_values, image_grid_thw); ``hidden_states[-1]`` split
  by the attention mask, template prefix dropped, right-padded, with ``encoder_hidden_states_mask``.
  The source image is resized to the sampler's height/width (what the judge sees too), VAE-encoded,
  normalised per channel with the VAE config's latents_mean/std and packed.
- predict_velocity: ``cat([x, source_latents], dim=1)``, timestep = sigma, no guidance, the text mask
  (``txt_seq_lens`` no longer exists in diffusers >= 0.39), ``img_shapes`` per sample; the output is
  cut back to the target tokens. Any batch size.
- decode: unpack to (B, C, 1, h, w), de-normalise, VAE decode, drop the frame axis, map to [0, 1].

The tiny offline model (``tiny_qwen_edit.py``) goes through exactly this code.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import torch
from torch import Tensor

from autorubric_runtime.models.base import Condition
from autorubric_runtime.models.exact_time import ExactTimeInputs
from autorubric_runtime.run_config import ModelCfg, SamplerCfg

log = logging.getLogger(__name__)

#: One marker per condition image, placed before the instruction (Edit-Plus template).
PICTURE_MARKER = "Picture {}: <|vision_start|><|image_pad|><|vision_end|>"
IMAGE_PAD = "<|image_pad|>"


def _pipeline_module() -> Any:
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as m

    return m


@dataclass
class QwenEditCondition(Condition):
    """Conditioning of one or more edit samples.

    ``prompt_embeds`` are right-padded to a common length T; ``prompt_mask`` marks the real tokens.
    ``image_latents`` are the packed, normalised VAE latents of the (resized) source image(s), which
    are appended after the noisy tokens at every transformer call. ``img_shapes`` holds, per sample,
    the (frames, rows, cols) of the target grid followed by one entry per condition image.
    """

    prompt_embeds: Tensor  # (B, T, D)
    prompt_mask: Tensor  # (B, T) long, 1 = token, 0 = padding
    image_latents: Tensor  # (B, Lc, C)
    img_shapes: list[list[tuple[int, int, int]]] = field(default_factory=list)

    def index(self, i: int | Sequence[int] | Tensor) -> Self:
        # Dropping padding that no selected sample uses keeps a single-sample call identical to encode().
        return _trim(super().index(i))

    @classmethod
    def cat(cls, conds: Sequence[Self]) -> Self:
        if not conds:
            raise ValueError("QwenEditCondition.cat needs at least one condition")
        shapes = {tuple(c.image_latents.shape[1:]) for c in conds}
        if len(shapes) != 1:
            raise ValueError(
                f"cannot batch edit conditions with different source-latent shapes {sorted(shapes)}; "
                "every source image is resized to sampler.height x sampler.width, so this means two adapters were mixed"
            )
        t = max(int(c.prompt_embeds.shape[1]) for c in conds)
        embeds = [_pad_seq(c.prompt_embeds, t) for c in conds]
        masks = [_pad_seq(c.prompt_mask, t) for c in conds]
        return cls(
            prompt_embeds=torch.cat(embeds, dim=0),
            prompt_mask=torch.cat(masks, dim=0),
            image_latents=torch.cat([c.image_latents for c in conds], dim=0),
            img_shapes=[s for c in conds for s in c.img_shapes],
        )


def _pad_seq(x: Tensor, length: int) -> Tensor:
    """Right-pad dim 1 with zeros to ``length``."""
    missing = length - int(x.shape[1])
    if missing <= 0:
        return x
    pad = x.new_zeros((x.shape[0], missing, *x.shape[2:]))
    return torch.cat([x, pad], dim=1)


def _trim(cond: QwenEditCondition) -> QwenEditCondition:
    valid = cond.prompt_mask.bool().any(dim=0)
    t = int(valid.nonzero().max().item()) + 1 if bool(valid.any()) else int(cond.prompt_mask.shape[1])
    if t == cond.prompt_mask.shape[1]:
        return cond
    return QwenEditCondition(
        prompt_embeds=cond.prompt_embeds[:, :t],
        prompt_mask=cond.prompt_mask[:, :t],
        image_latents=cond.image_latents,
        img_shapes=cond.img_shapes,
    )


class QwenEditAdapter:
    """Qwen-Image-Edit-2509 (or the tiny offline model) as a :class:`ModelAdapter`.

    Options:
        height, width: the sampler size; targets are generated and sources resized to it.
        condition_area: pixel area of the source as the VL encoder sees it (default: the pipeline's
            384*384; the image processor's min/max pixels then apply).
        template_start_idx: template tokens dropped before the user text (default: counted with the
            tokenizer, 64 for the real one).
        micro_batch: samples per transformer call inside predict_velocity (default: all at once).
        cache_size: (prompt, source path) encodings kept (LRU, on the CPU).
    """

    family = "qwen-edit"
    guidance: float | None = None

    def __init__(
        self,
        transformer: torch.nn.Module,
        vae: torch.nn.Module,
        text_encoder: torch.nn.Module,
        tokenizer: Any,
        image_processor: Any,
        *,
        height: int,
        width: int,
        device: torch.device,
        dtype: torch.dtype,
        condition_area: int | None = None,
        template_start_idx: int | None = None,
        micro_batch: int | None = None,
        cache_size: int = 4096,
    ) -> None:
        m = _pipeline_module()
        self.pipeline_class = m.QwenImageEditPlusPipeline
        # A pipeline around the same modules (no copies) supplies the template and the packing helpers; its
        # processor is not needed (the image pads are expanded here) and would require torchvision.
        from diffusers import FlowMatchEulerDiscreteScheduler

        self.pipe = m.QwenImageEditPlusPipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(),
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            processor=None,
            transformer=transformer,
        )
        self.transformer = transformer
        self.vae = vae
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.device = torch.device(device)
        self.dtype = dtype
        # bf16 autocast only on CUDA; fp32 on CPU keeps the log-prob recompute exact.
        self.autocast_dtype: torch.dtype | None = torch.bfloat16 if self.device.type == "cuda" else None
        self.height = int(height)
        self.width = int(width)
        self.vae_scale_factor = int(self.pipe.vae_scale_factor)
        multiple = self.vae_scale_factor * 2
        if self.height % multiple or self.width % multiple:
            raise ValueError(
                f"sampler.height/width {self.height}x{self.width} must be multiples of {multiple} for this model "
                f"(VAE factor {self.vae_scale_factor} x 2x2 packing); e.g. "
                f"{self.height // multiple * multiple}x{self.width // multiple * multiple}"
            )
        self.latent_channels = int(vae.config.z_dim)
        in_ch = int(transformer.config.in_channels)
        if in_ch != 4 * self.latent_channels:
            raise ValueError(
                f"transformer in_channels {in_ch} does not match 4 x VAE z_dim {self.latent_channels}: "
                "transformer and VAE come from different models"
            )
        self.grid = (self.height // self.vae_scale_factor // 2, self.width // self.vae_scale_factor // 2)
        self.latent_shape = (self.grid[0] * self.grid[1], in_ch)
        self.condition_area = int(condition_area or m.CONDITION_IMAGE_SIZE)
        self.prompt_template: str = self.pipe.prompt_template_encode
        self.template_start_idx = (
            int(template_start_idx) if template_start_idx is not None else self._template_prefix_length()
        )
        self.micro_batch = micro_batch
        self._vae_processor = self.pipe.image_processor
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[tuple[str, str], QwenEditCondition] = OrderedDict()
        stats = vae.config
        self._lat_mean = torch.tensor(stats.latents_mean, dtype=torch.float32).view(1, -1, 1, 1, 1)
        self._lat_std = torch.tensor(stats.latents_std, dtype=torch.float32).view(1, -1, 1, 1, 1)
        merge = int(getattr(image_processor, "merge_size", 2))
        self._merge_sq = merge * merge
        self._exact_time = ExactTimeInputs(transformer.time_text_embed, scale=1.0)

    # ------------------------------------------------------------------ encode
    def _template_prefix_length(self) -> int:
        """Tokens of the template before the user text (64 with the real Qwen2.5 tokenizer)."""
        prefix = self.prompt_template.split("{}")[0]
        n = len(self.tokenizer(prefix, add_special_tokens=False)["input_ids"])
        pipeline_value = int(self.pipe.prompt_template_encode_start_idx)
        if n != pipeline_value and len(self.tokenizer) > 100_000:
            log.warning(
                "template prefix is %d tokens with this tokenizer but the diffusers pipeline drops %d; "
                "embeddings will differ from QwenImageEditPlusPipeline's",
                n,
                pipeline_value,
            )
        return n

    def encode(self, prompts: list[str], source_images: list[str] | None = None) -> QwenEditCondition:
        if source_images is None:
            raise ValueError(
                "qwen-edit: every prompt needs a source image to edit (source_images is missing); "
                "give the dataset's source_image for each prompt"
            )
        if len(source_images) != len(prompts):
            raise ValueError(
                f"qwen-edit: {len(prompts)} prompts but {len(source_images)} source images; give one source per prompt"
            )
        conds = []
        for prompt, src in zip(prompts, source_images, strict=True):
            key = (prompt, os.fspath(src))
            cond = self._cache.get(key)
            if cond is None:
                # Kept on the CPU: per pair ~1.5 MB of embeddings for the real model, too much for the GPU
                # over a whole dataset; the LRU bound keeps host memory in check too.
                cond = self._encode_one(prompt, os.fspath(src)).to("cpu")
                self._cache[key] = cond
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            conds.append(cond)
        return QwenEditCondition.cat(conds).to(self.device)

    def load_source(self, path: str) -> Any:
        """The source image resized to the configured size (the judge is shown this same size)."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except FileNotFoundError as e:
            raise FileNotFoundError(f"source image not found: {path}") from e
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"source image {path} could not be read as an image: {e}") from e
        if img.size != (self.width, self.height):
            img = self._vae_processor.resize(img, self.height, self.width)
        return img

    @torch.no_grad()
    def _encode_one(self, prompt: str, src: str) -> QwenEditCondition:
        m = _pipeline_module()
        image = self.load_source(src)
        # Text side: the VL encoder sees the source at ~condition_area pixels, as in the pipeline.
        cw, ch = m.calculate_dimensions(self.condition_area, self.width / self.height)
        vl_image = self._vae_processor.resize(image, ch, cw)
        vis = self.image_processor(images=[vl_image], return_tensors="pt")
        grid_thw = vis["image_grid_thw"]
        n_pad = int(grid_thw[0].prod().item()) // self._merge_sq
        text = self.prompt_template.format(PICTURE_MARKER.format(1) + prompt)
        # What Qwen2VLProcessor does: one image pad per merged vision token.
        text = text.replace(IMAGE_PAD, IMAGE_PAD * n_pad, 1)
        tok = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        dev = self.device
        enc_dtype = next(self.text_encoder.parameters()).dtype
        out = self.text_encoder(
            input_ids=tok["input_ids"].to(dev),
            attention_mask=tok["attention_mask"].to(dev),
            pixel_values=vis["pixel_values"].to(dev, enc_dtype),
            image_grid_thw=grid_thw.to(dev),
            output_hidden_states=True,
        )
        hidden = self.pipe._extract_masked_hidden(out.hidden_states[-1], tok["attention_mask"].to(dev))[0]
        if hidden.shape[0] <= self.template_start_idx:
            raise ValueError(
                f"qwen-edit: encoded prompt has {hidden.shape[0]} tokens, not more than the template prefix "
                f"({self.template_start_idx}); the tokenizer does not match the template"
            )
        embeds = hidden[self.template_start_idx :].to(self.dtype).unsqueeze(0)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=dev)
        # Image side: VAE latents (mode, normalised per channel) of the source at the configured size.
        pixels = self._vae_processor.preprocess(image, self.height, self.width)
        pixels = pixels.to(dev, next(self.vae.parameters()).dtype).unsqueeze(2)
        z = self.pipe._encode_vae_image(pixels, generator=None)
        h, w = z.shape[-2:]
        packed = self.pipeline_class._pack_latents(z, 1, self.latent_channels, h, w).to(self.dtype)
        shapes = [(1, *self.grid), (1, h // 2, w // 2)]
        return QwenEditCondition(prompt_embeds=embeds, prompt_mask=mask, image_latents=packed, img_shapes=[shapes])

    # ------------------------------------------------------------ velocity
    def predict_velocity(self, latents: Tensor, sigma: Tensor, cond: Condition) -> Tensor:
        """latents (B, L, C) packed, sigma (B,) quantised -> velocity (B, L, C) float32.

        One transformer call for the whole batch (or ``micro_batch``-sized chunks); the diffusers
        Edit-Plus pipeline itself only takes one sample.
        """
        if not isinstance(cond, QwenEditCondition):
            raise TypeError(f"qwen-edit adapter got a {type(cond).__name__}; encode with this adapter")
        b, length, _ = latents.shape
        if (length, latents.shape[2]) != tuple(self.latent_shape):
            raise ValueError(f"latents {tuple(latents.shape)} do not match the packed shape (B, {self.latent_shape})")
        if cond.batch_size() == 1 and b > 1:
            cond = QwenEditCondition.cat([cond] * b)
        if cond.batch_size() != b:
            raise ValueError(f"{b} latents but a condition for {cond.batch_size()} samples")
        sigma = sigma.reshape(-1).expand(b) if sigma.numel() == 1 else sigma.reshape(-1)
        step = self.micro_batch or b
        outs = []
        for s in range(0, b, step):
            idx = list(range(s, min(b, s + step)))
            sub = cond if len(idx) == b else cond.index(idx)
            outs.append(self._call(latents[idx[0] : idx[-1] + 1], sigma[idx[0] : idx[-1] + 1], sub))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)

    def _call(self, latents: Tensor, sigma: Tensor, cond: QwenEditCondition) -> Tensor:
        dt = self.dtype
        x = torch.cat([latents.to(dt), cond.image_latents.to(dt)], dim=1)
        mask = cond.prompt_mask
        # The pipeline passes no mask when nothing is padded; do the same so its fast path is kept.
        mask = None if bool(mask.all()) else mask
        with (
            torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast_dtype is not None),
            self._exact_time.feeding(sigma.to(device=x.device, dtype=torch.float32)),  # see models/exact_time.py
        ):
            out = self.transformer(
                hidden_states=x,
                timestep=sigma.to(device=x.device, dtype=dt),
                guidance=None,
                encoder_hidden_states=cond.prompt_embeds.to(dt),
                encoder_hidden_states_mask=mask,
                img_shapes=cond.img_shapes,
                return_dict=False,
            )[0]
        return out[:, : latents.shape[1]].to(torch.float32)

    # --------------------------------------------------------------- decode
    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Packed latents (B, L, C) -> images (B, 3, H, W) float32 in [0, 1] (the pipeline's decode)."""
        z = self.pipeline_class._unpack_latents(latents.float(), self.height, self.width, self.vae_scale_factor)
        z = z * self._lat_std.to(z.device) + self._lat_mean.to(z.device)
        vae_dtype = next(self.vae.parameters()).dtype
        img = self.vae.decode(z.to(vae_dtype), return_dict=False)[0][:, :, 0]
        return (img.float() / 2 + 0.5).clamp(0, 1)


def load(model: ModelCfg, sampler: SamplerCfg, device: torch.device, dtype: torch.dtype) -> QwenEditAdapter:
    """Load Qwen-Image-Edit-2509 (or a folder with its layout) from a local path or hub id.

    Subfolders: transformer/, vae/, text_encoder/, tokenizer/, processor/ (the VL image processor).
    The image processor is always the PIL implementation, whatever class the folder names, so that
    torchvision is never needed.
    """
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    path = model.path
    local = Path(path)
    if local.exists() and not (local / "transformer").is_dir():
        raise FileNotFoundError(
            f"train.model.path {path}: no transformer/ subfolder; point it at a Qwen-Image-Edit-2509 "
            "snapshot (diffusers layout) or use 'tiny'"
        )
    _check_tiny_recipe(local)
    try:
        transformer = QwenImageTransformer2DModel.from_pretrained(path, subfolder="transformer", torch_dtype=dtype)
        vae = AutoencoderKLQwenImage.from_pretrained(path, subfolder="vae", torch_dtype=dtype)
        text_encoder = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, subfolder="text_encoder", dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path, subfolder="tokenizer")
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(path, subfolder="processor")
    except OSError as err:
        raise FileNotFoundError(
            f"train.model.path: cannot load Qwen-Image-Edit from {path!r} ({err}). Use a local diffusers folder "
            "(e.g. a Qwen/Qwen-Image-Edit-2509 snapshot), a hub id already in the Hugging Face cache, or 'tiny'"
        ) from err
    for module in (transformer, vae, text_encoder):
        module.requires_grad_(False)
        module.eval()
        module.to(device)
    log.info("loaded Qwen-Image-Edit from %s (%s on %s)", path, dtype, device)
    return QwenEditAdapter(
        transformer,
        vae,
        text_encoder,
        tokenizer,
        image_processor,
        height=sampler.height,
        width=sampler.width,
        device=device,
        dtype=dtype,
    )


def _check_tiny_recipe(folder: Path) -> None:
    """A cached tiny folder from an older recipe would silently differ from what the tests pin."""
    spec_file = folder / "tiny_spec.json"
    if not spec_file.is_file():
        return
    import json

    from autorubric_runtime.models.tiny_qwen_edit import RECIPE_VERSION

    found = json.loads(spec_file.read_text()).get("recipe")
    if found != RECIPE_VERSION:
        raise ValueError(
            f"{folder}: tiny Qwen-Image-Edit built with recipe {found}, this runtime builds recipe {RECIPE_VERSION}; "
            "delete that folder (it is rebuilt on the next run)"
        )
