/** The `vlm` section: an OpenAI-compatible VLM endpoint (vLLM, SGLang, OpenAI, Gemini's OpenAI-compatible API). */
import { z } from "zod";
import { httpUrl, ImageEncodingSchema, nonNegativeInt, PriceSchema, positiveInt } from "./common.js";

export const VlmSchema = z
  .object({
    provider: z
      .enum(["openai-compatible", "referee"])
      .default("openai-compatible")
      .describe(
        "referee: the offline rule-based reference judge, started by the CLI on loopback (not a VLM)",
      ),
    model: z.string().min(1).describe("model name as the server knows it"),
    base_url: z
      .union([httpUrl(), z.array(httpUrl()).min(1)])
      .nullable()
      .default(null)
      .describe(
        "endpoint URL ending in /v1, or a list of replicas serving the same model (null only for the referee)",
      ),
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name")
      .nullable()
      .default(null)
      .describe("NAME of the env var holding the API key (the key itself never goes in a config)"),
    temperature: z
      .number()
      .min(0)
      .max(2)
      .nullable()
      .default(0)
      .describe("sampling temperature (null: server default)"),
    max_tokens: positiveInt().nullable().default(1024).describe("completion token cap per call"),
    timeout_ms: positiveInt().default(120_000).describe("per-attempt timeout"),
    max_retries: nonNegativeInt()
      .default(3)
      .describe("SDK retries on 429, 5xx, timeouts and broken connections"),
    concurrency: positiveInt()
      .default(32)
      .describe(
        "VLM requests in flight at once over all endpoints: the cap every command's calls share (judge.concurrency and induction.concurrency queue below it)",
      ),
    structured_output: z
      .enum(["json_schema", "json_object", "none"])
      .default("json_schema")
      .describe("response_format sent: strict JSON schema, plain JSON object, or nothing"),
    extra_body: z
      .record(z.string(), z.unknown())
      .default({})
      .describe("server-specific request keys passed through"),
    endpoint_cooldown_ms: positiveInt().default(30_000).describe("how long a failing endpoint is set aside"),
    price: PriceSchema.default(PriceSchema.parse({})),
    image: ImageEncodingSchema.default(ImageEncodingSchema.parse({})),
  })
  .strict();
