/**
 * What the plan needs to know about a denoiser and a VAE, read from their `config.json` (the same
 * files the parameter count builds the modules from). Pure: parsing and derived sizes only.
 */
import { z } from "zod";
import type { ModelConfig } from "../config/schema.js";

/** The diffusers transformer config fields used here (FLUX.1 and Qwen-Image share the names). */
export const TransformerConfigSchema = z
  .object({
    _class_name: z.string(),
    patch_size: z.number().int().positive(),
    in_channels: z.number().int().positive(),
    out_channels: z.number().int().positive().nullable().optional(),
    num_layers: z.number().int().nonnegative(),
    num_single_layers: z.number().int().nonnegative().optional(),
    attention_head_dim: z.number().int().positive(),
    num_attention_heads: z.number().int().positive(),
    joint_attention_dim: z.number().int().positive(),
    pooled_projection_dim: z.number().int().positive().optional(),
    guidance_embeds: z.boolean().optional(),
  })
  .loose();

/** AutoencoderKL (FLUX) or AutoencoderKLQwenImage (Qwen-Image) fields used here. */
export const VaeConfigSchema = z
  .object({
    _class_name: z.string(),
    block_out_channels: z.array(z.number().int().positive()).min(2).optional(),
    base_dim: z.number().int().positive().optional(),
    dim_mult: z.array(z.number().int().positive()).min(2).optional(),
    temperal_downsample: z.array(z.boolean()).optional(),
  })
  .loose()
  .refine((c) => c.block_out_channels || (c.base_dim && c.dim_mult && c.temperal_downsample), {
    message:
      "needs block_out_channels (AutoencoderKL) or base_dim, dim_mult and temperal_downsample (Qwen-Image)",
  });

/** A double-stream / single-stream transformer as the FLOP and memory formulas see it. */
export interface DenoiserArch {
  family: ModelConfig["family"];
  className: string;
  /** Model width d = heads x head_dim (3072 for both FLUX.1-dev and Qwen-Image). */
  dim: number;
  /** Double-stream blocks (separate image/text weights, joint attention). */
  doubleBlocks: number;
  /** Single-stream blocks (FLUX: parallel attention + MLP over the concatenated sequence). */
  singleBlocks: number;
  /** Channels of a packed latent token (the input projection's fan-in). */
  inChannels: number;
  /** Channels the output projection writes per image token: patch^2 x out_channels. */
  outChannels: number;
  /** Width of the text encoder's hidden states (the context projection's fan-in). */
  textDim: number;
  /** CLIP pooled width (FLUX's text-projection embedder); 0 when the model has none. */
  pooledDim: number;
  /** FLUX.1-dev's guidance embedder (a second timestep-style MLP). */
  guidanceEmbeds: boolean;
}

export interface VaeArch {
  className: string;
  /** Pixels per latent cell along each side (8 for both VAEs). */
  scaleFactor: number;
  /** Widest channel count of a tensor at full output resolution in the decoder. */
  fullResChannels: number;
}

export function denoiserArch(family: ModelConfig["family"], raw: unknown): DenoiserArch {
  const c = TransformerConfigSchema.parse(raw);
  // FLUX packs 2x2 latent patches outside the model (patch_size 1, in 64 = 4 x 16 latent channels);
  // Qwen-Image declares patch 2 with out_channels 16, so its projection writes 2 x 2 x 16 = 64.
  const outChannels = c.out_channels ? c.patch_size * c.patch_size * c.out_channels : c.in_channels;
  return {
    family,
    className: c._class_name,
    dim: c.num_attention_heads * c.attention_head_dim,
    doubleBlocks: c.num_layers,
    singleBlocks: c.num_single_layers ?? 0,
    inChannels: c.in_channels,
    outChannels,
    textDim: c.joint_attention_dim,
    pooledDim: family === "flux" ? (c.pooled_projection_dim ?? 0) : 0,
    guidanceEmbeds: family === "flux" && c.guidance_embeds === true,
  };
}

/**
 * AutoencoderKL: the decoder's second-to-last up block upsamples `block_out_channels[1]` channels to
 * full resolution; 2^(levels - 1) downsampling. AutoencoderKLQwenImage (the Wan 2.1 VAE): its last
 * upsampler works on `base_dim x dim_mult[1]` channels; 2^(temporal_downsample entries) downsampling.
 */
export function vaeArch(raw: unknown): VaeArch {
  const c = VaeConfigSchema.parse(raw);
  if (c.block_out_channels) {
    return {
      className: c._class_name,
      scaleFactor: 2 ** (c.block_out_channels.length - 1),
      fullResChannels: c.block_out_channels[1] as number,
    };
  }
  const [base, mult, temporal] = [c.base_dim ?? 0, c.dim_mult ?? [], c.temperal_downsample ?? []];
  return {
    className: c._class_name,
    scaleFactor: 2 ** temporal.length,
    fullResChannels: base * (mult[1] ?? 0),
  };
}

/** Blocks that process the whole sequence (every block does, in both architectures). */
export function blockCount(arch: DenoiserArch): number {
  return arch.doubleBlocks + arch.singleBlocks;
}
