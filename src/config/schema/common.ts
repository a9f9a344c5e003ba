/**
 * Building blocks shared by several config sections: number shapes, prices, budgets, image encoding.
 */
import { z } from "zod";

export const positiveInt = () => z.number().int().positive();
export const nonNegativeInt = () => z.number().int().nonnegative();
export const probability = () => z.number().min(0).max(1);
/** http(s) only: zod's plain url() accepts `localhost:8000` as a URL with scheme `localhost:`. */
export const httpUrl = () => z.url({ protocol: /^https?$/ });

export const TaskSchema = z.enum(["t2i", "edit"]).describe("text-to-image or image editing");
export const LanguageSchema = z.enum(["en", "zh"]).describe("language of the prompts sent to the VLM");

/** Per-million-token prices used by the cost meter. */
export const PriceSchema = z
  .object({
    input_per_mtok: z.number().nonnegative().default(0).describe("price per million prompt tokens"),
    output_per_mtok: z.number().nonnegative().default(0).describe("price per million completion tokens"),
    currency: z
      .string()
      .min(1)
      .default("USD")
      .describe("currency of the prices above (costs are shown in it)"),
  })
  .strict();

/** Hard caps that stop work cleanly (and say so) before they are exceeded. */
export const BudgetSchema = z
  .object({
    max_calls: positiveInt().nullable().default(null).describe("stop before making more VLM calls than this"),
    max_tokens: positiveInt().nullable().default(null).describe("stop once this many tokens have been used"),
    max_cost: z
      .number()
      .positive()
      .nullable()
      .default(null)
      .describe("stop once this much money has been spent"),
  })
  .strict();

/** How images are prepared before they are sent to the VLM. */
export const ImageEncodingSchema = z
  .object({
    max_side: positiveInt()
      .nullable()
      .default(1024)
      .describe("downscale so the longer side is at most this (null: never)"),
    format: z.enum(["png", "jpeg", "webp"]).default("png").describe("encoding sent to the VLM"),
    quality: z.number().int().min(1).max(100).default(90).describe("quality for jpeg/webp"),
    source_size: z
      .tuple([positiveInt(), positiveInt()])
      .nullable()
      .default(null)
      .describe(
        "[height, width] the source image of an edit is resized to, so the judge sees what the policy saw",
      ),
  })
  .strict();
