/**
 * Image tokens of the Qwen-VL family (Qwen2-VL, Qwen2.5-VL, Qwen3-VL), computed the way their
 * image processor does (transformers `smart_resize`):
 *
 *   factor = patch_size x merge_size                    (28 for Qwen2.5-VL, 32 for Qwen3-VL)
 *   h' = round(h / factor) x factor, w' likewise        (Python's round: half to even)
 *   if h' w' > max_pixels: beta = sqrt(h w / max_pixels), h' = max(factor, floor(h / beta / factor) x factor)
 *   if h' w' < min_pixels: beta = sqrt(min_pixels / (h w)), h' = ceil(h beta / factor) x factor
 *   tokens = (h' / patch) (w' / patch) / merge^2        (+2 for <|vision_start|> and <|vision_end|>)
 *
 * min/max pixels come from the model's `preprocessor_config.json`: Qwen2.5-VL writes `min_pixels` /
 * `max_pixels`, Qwen3-VL writes `size.shortest_edge` / `size.longest_edge` (both are pixel counts).
 */
import { z } from "zod";

/** The fields of a Qwen-VL `preprocessor_config.json` that decide the token count. */
export const VisionProcessorSchema = z
  .object({
    patch_size: z.number().int().positive(),
    merge_size: z.number().int().positive(),
    min_pixels: z.number().int().positive().optional(),
    max_pixels: z.number().int().positive().optional(),
    size: z
      .object({ shortest_edge: z.number().int().positive(), longest_edge: z.number().int().positive() })
      .partial()
      .optional(),
  })
  .loose()
  .refine((c) => (c.size?.shortest_edge ?? c.min_pixels) !== undefined, {
    message: "needs size.shortest_edge or min_pixels",
  })
  .refine((c) => (c.size?.longest_edge ?? c.max_pixels) !== undefined, {
    message: "needs size.longest_edge or max_pixels",
  });

export interface VisionProcessor {
  patch: number;
  merge: number;
  minPixels: number;
  maxPixels: number;
}

/** The processor's resize parameters; `size` wins over the older top-level keys, as in transformers. */
export function visionProcessor(config: z.infer<typeof VisionProcessorSchema>): VisionProcessor {
  return {
    patch: config.patch_size,
    merge: config.merge_size,
    minPixels: (config.size?.shortest_edge ?? config.min_pixels) as number,
    maxPixels: (config.size?.longest_edge ?? config.max_pixels) as number,
  };
}

/** Python's `round()`: halves go to the even neighbour (`round(62.5) == 62`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The size the processor resizes an h x w image to (see the module comment). */
export function smartResize(height: number, width: number, p: VisionProcessor): [number, number] {
  const factor = p.patch * p.merge;
  if (Math.max(height, width) / Math.min(height, width) > 200) {
    throw new RangeError(`image ${width}x${height}: the Qwen-VL processor rejects aspect ratios over 200`);
  }
  let h = roundHalfEven(height / factor) * factor;
  let w = roundHalfEven(width / factor) * factor;
  if (h * w > p.maxPixels) {
    const beta = Math.sqrt((height * width) / p.maxPixels);
    h = Math.max(factor, Math.floor(height / beta / factor) * factor);
    w = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (h * w < p.minPixels) {
    const beta = Math.sqrt(p.minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return [h, w];
}

/** Vision tokens one image occupies in the language model, without the two delimiter tokens. */
export function imageTokens(height: number, width: number, p: VisionProcessor): number {
  const [h, w] = smartResize(height, width, p);
  return ((h / p.patch) * (w / p.patch)) / (p.merge * p.merge);
}

/** The delimiters around every image: `<|vision_start|>` and `<|vision_end|>`. */
export const IMAGE_DELIMITER_TOKENS = 2;
