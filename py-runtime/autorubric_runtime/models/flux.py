"""FLUX.1-dev adapter (also serves the tiny FLUX: same classes, same from_pretrained path).

Transformer call (outside the pipeline, as RPO needs it): packed latents (B, L, 4C), timestep = the
quantised sigma (the model multiplies by 1000 itself), the guidance *embedding* (FLUX.1-dev is
guidance-distilled: no true CFG; 3.5 in rollout and training), T5 ``last_hidden_state`` padded to
max length (no mask) and CLIP's pooled output, txt_ids/img_ids 2-D. Packing, unpacking and the image
ids come from diffusers' own FluxPipeline static helpers. Decoding reads scaling_factor and
shift_factor from the VAE config (never hard-coded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from autorubric_runtime.models.base import Condition, unbatched
from autorubric_runtime.models.exact_time import ExactTimeInputs
from autorubric_runtime.run_config import ModelCfg, SamplerCfg

log = logging.getLogger(__name__)

MAX_T5_TOKENS = 512


@dataclass
class FluxCondition(Condition):
    prompt_embeds: Tensor  # (B, T, D_t5)
    pooled: Tensor  # (B, D_clip)
    txt_ids: Tensor = unbatched()  # (T, 3) zeros, shared by the batch


class FluxAdapter:
    family = "flux"

    def __init__(
        self,
        pipeline: Any,
        height: int,
        width: int,
        guidance: float | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        from diffusers import FluxPipeline

        self.pipeline = pipeline
        self.pipeline_class = FluxPipeline
        self.transformer: torch.nn.Module = pipeline.transformer
        self.vae = pipeline.vae
        self.device = device
        self.dtype = dtype
        # bf16 autocast only on CUDA; fp32 weights on CPU run plain fp32 (exact log-prob recompute)
        self.autocast_dtype: torch.dtype | None = torch.bfloat16 if device.type == "cuda" else None
        self.vae_scale_factor = int(pipeline.vae_scale_factor)
        unit = self.vae_scale_factor * 2
        if height % unit or width % unit:
            raise ValueError(f"train.sampler.height/width must be multiples of {unit} for FLUX, got {height}x{width}")
        self.height, self.width = height, width
        self.latent_channels = self.transformer.config.in_channels // 4
        lh, lw = 2 * (height // unit), 2 * (width // unit)
        self.latent_hw = (lh, lw)
        self.latent_shape = ((lh // 2) * (lw // 2), self.transformer.config.in_channels)
        self.img_ids = FluxPipeline._prepare_latent_image_ids(1, lh // 2, lw // 2, device, torch.float32)  # (L, 3)
        self.guidance = float(guidance) if (guidance is not None and self.transformer.config.guidance_embeds) else None
        self._exact_time = ExactTimeInputs(self.transformer.time_text_embed, scale=1000.0)
        tok2 = pipeline.tokenizer_2
        self.max_sequence_length = min(MAX_T5_TOKENS, int(getattr(tok2, "model_max_length", MAX_T5_TOKENS)))
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}

    # --- conditioning -------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, prompts: list[str], source_images: list[str] | None = None) -> FluxCondition:
        if source_images and any(s is not None for s in source_images):
            raise ValueError("model.family 'flux' is text-to-image: source images are not accepted (use 'qwen-edit')")
        missing = list(dict.fromkeys(p for p in prompts if p not in self._cache))
        if missing:
            embeds, pooled, _ = self.pipeline.encode_prompt(
                prompt=missing,
                prompt_2=None,
                device=self.device,
                num_images_per_prompt=1,
                max_sequence_length=self.max_sequence_length,
            )
            for i, p in enumerate(missing):
                self._cache[p] = (embeds[i].detach(), pooled[i].detach())
        embeds = torch.stack([self._cache[p][0] for p in prompts])
        pooled = torch.stack([self._cache[p][1] for p in prompts])
        txt_ids = torch.zeros(embeds.shape[1], 3, device=self.device, dtype=torch.float32)
        return FluxCondition(prompt_embeds=embeds, pooled=pooled, txt_ids=txt_ids)

    # --- denoiser -------------------------------------------------------------------------------
    def predict_velocity(self, latents: Tensor, sigma: Tensor, cond: FluxCondition) -> Tensor:
        """latents (B, L, C) packed, sigma (B,) quantised -> velocity (B, L, C) float32."""
        b = latents.shape[0]
        if cond.prompt_embeds.shape[0] != b:
            raise ValueError(f"predict_velocity: {b} latents but {cond.prompt_embeds.shape[0]} conditions")
        wdtype = self.dtype
        timestep = sigma.to(device=latents.device, dtype=torch.float32).reshape(-1).expand(b)
        guidance = (
            torch.full((b,), self.guidance, device=latents.device, dtype=torch.float32)
            if self.guidance is not None
            else None
        )
        exact = (timestep,) if guidance is None else (timestep, guidance)
        with (
            torch.autocast(
                "cuda", dtype=self.autocast_dtype or torch.bfloat16, enabled=self.autocast_dtype is not None
            ),
            self._exact_time.feeding(*exact),  # bf16 would otherwise round 954 to 952 (models/exact_time.py)
        ):
            v = self.transformer(
                hidden_states=latents.to(wdtype),
                timestep=timestep.to(wdtype),
                guidance=guidance.to(wdtype) if guidance is not None else None,
                pooled_projections=cond.pooled.to(wdtype),
                encoder_hidden_states=cond.prompt_embeds.to(wdtype),
                txt_ids=cond.txt_ids.to(wdtype),
                img_ids=self.img_ids.to(wdtype),
                return_dict=False,
            )[0]
        return v.to(torch.float32)

    # --- latents <-> images -----------------------------------------------------------------------
    def pack(self, latents: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, L, 4C)."""
        from diffusers import FluxPipeline

        b, c, h, w = latents.shape
        return FluxPipeline._pack_latents(latents, b, c, h, w)

    def unpack(self, latents: Tensor) -> Tensor:
        """(B, L, 4C) -> (B, C, h, w)."""
        from diffusers import FluxPipeline

        return FluxPipeline._unpack_latents(latents, self.height, self.width, self.vae_scale_factor)

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Packed latents (B, L, C) -> images (B, 3, H, W) float32 in [0, 1]."""
        cfg = self.vae.config
        z = self.unpack(latents.to(torch.float32))
        z = z / cfg.scaling_factor + (cfg.shift_factor if cfg.shift_factor is not None else 0.0)
        image = self.vae.decode(z.to(self.vae.dtype), return_dict=False)[0]
        return (image.to(torch.float32) / 2 + 0.5).clamp(0, 1)


def load(model: ModelCfg, sampler: SamplerCfg, device: torch.device, dtype: torch.dtype) -> FluxAdapter:
    """Load FLUX.1-dev (or the tiny folder) with from_pretrained from a local path or hub id."""
    import transformers
    from diffusers import FluxPipeline
    from diffusers.utils import logging as diffusers_logging

    # progress bars would interleave with the bridge's stderr logs
    diffusers_logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    path = model.path
    try:
        pipe = FluxPipeline.from_pretrained(path, dtype=dtype)
    except OSError as err:
        raise FileNotFoundError(
            f"train.model.path: cannot load FLUX from {path!r} ({err}). Use a local diffusers folder, a hub id "
            "already in the Hugging Face cache, or 'tiny' for the offline tiny model"
        ) from err
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    for module in (pipe.transformer, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
        module.eval()
        module.requires_grad_(False)
    return FluxAdapter(
        pipe,
        height=sampler.height,
        width=sampler.width,
        guidance=sampler.guidance,
        device=device,
        dtype=dtype,
    )
