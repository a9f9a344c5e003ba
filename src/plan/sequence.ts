/**
 * Sequence lengths of one transformer call (batch 1: the runtime samples and trains one sample
 * per forward, see py-runtime trainer.py), as the runtime's adapters build them.
 */
import type { DenoiserArch, VaeArch } from "./architecture.js";
import { IMAGE_DELIMITER_TOKENS, imageTokens, roundHalfEven, type VisionProcessor } from "./vision-tokens.js";

/** FLUX: T5 hidden states padded to max_sequence_length 512, no mask (models/flux.py MAX_T5_TOKENS). */
export const FLUX_TEXT_TOKENS = 512;
/** Qwen-Image-Edit: the pipeline shows the VL encoder the source at about this area (CONDITION_IMAGE_SIZE). */
export const QWEN_CONDITION_AREA = 384 * 384;
/**
 * Qwen-Image-Edit text tokens besides the source's vision tokens, after the pipeline drops the
 * system prefix: the "Picture 1:" marker, the instruction and the chat template's tail. Assumed
 * (a typical instruction is 20-40 tokens); the real length varies per prompt.
 */
export const QWEN_EDIT_PROMPT_TOKENS = 48;

export interface Sequence {
  /** Noisy latent tokens of the generated image: (H / (8 x 2)) x (W / (8 x 2)). */
  image: number;
  /** Latent tokens of the edit's source image appended after them (0 for FLUX). */
  condition: number;
  /** Text (and, for Qwen-Image-Edit, the source's vision) tokens. */
  text: number;
  /** All tokens joint attention runs over. */
  total: number;
  /** How `text` was obtained. */
  textNote: string;
}

/** diffusers' `calculate_dimensions(area, ratio)`: w = sqrt(area x ratio), h = w / ratio, each rounded to 32. */
export function conditionSize(area: number, height: number, width: number): [number, number] {
  const ratio = width / height;
  const w = Math.sqrt(area * ratio);
  const h = w / ratio;
  return [roundHalfEven(h / 32) * 32, roundHalfEven(w / 32) * 32];
}

/**
 * Tokens of one call: the image is VAE-downsampled by `scaleFactor` and packed in 2 x 2 patches, so
 * it has (H / 2s) x (W / 2s) tokens; Qwen-Image-Edit appends the source (resized to the target size
 * by the runtime) with as many again. `processor` is the edit text encoder's image processor.
 */
export function sequence(
  arch: DenoiserArch,
  vae: VaeArch,
  height: number,
  width: number,
  processor: VisionProcessor | null,
): Sequence {
  const unit = 2 * vae.scaleFactor;
  const image = Math.floor(height / unit) * Math.floor(width / unit);
  if (arch.family === "flux") {
    return {
      image,
      condition: 0,
      text: FLUX_TEXT_TOKENS,
      total: image + FLUX_TEXT_TOKENS,
      textNote: `T5 padded to ${FLUX_TEXT_TOKENS} tokens`,
    };
  }
  if (!processor) throw new Error("sequence: qwen-edit needs the text encoder's image processor");
  const [ch, cw] = conditionSize(QWEN_CONDITION_AREA, height, width);
  const vision = imageTokens(ch, cw, processor) + IMAGE_DELIMITER_TOKENS;
  const text = vision + QWEN_EDIT_PROMPT_TOKENS;
  return {
    image,
    condition: image,
    text,
    total: 2 * image + text,
    textNote: `${vision} vision tokens of the source at ${cw}x${ch} + ${QWEN_EDIT_PROMPT_TOKENS} instruction/template tokens (assumed)`,
  };
}
