/**
 * The VLM client: one `complete()` over any OpenAI-compatible endpoint (vLLM, SGLang, OpenAI,
 * Gemini's OpenAI-compatible API). HTTP retries, backoff and per-attempt timeouts are the openai
 * SDK's (`maxRetries`, `timeout`); this layer adds the concurrency cap, the endpoint pool, budgets,
 * usage accounting and typed errors. The API key is read from the env var the config names and
 * never appears in a message, log or error.
 */
import OpenAI from "openai";
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  PermissionDeniedError,
} from "openai/error";
import type { Config, VlmConfig } from "../config/schema.js";
import { AbortError, ConfigError, VlmError } from "../errors.js";
import { BufferPool } from "./buffer-pool.js";
import { EndpointPool, type EndpointState, Semaphore } from "./endpoint-pool.js";
import type { InlineImagePart } from "./request-body.js";
import { encodeRequestBody } from "./request-body.js";
import { createTransport } from "./transport.js";
import type { TokenUsage, UsageMeter } from "./usage.js";

export type { InlineImagePart };

export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string } }
  | InlineImagePart;

/** An image in a prompt: an http(s) or data URL, or inline bytes. */
export type ImageRef = string | InlineImagePart;

export function imagePart(image: ImageRef): ContentPart {
  return typeof image === "string" ? { type: "image_url", image_url: { url: image } } : image;
}

/** The data URL of an image part (for callers that need the text form, e.g. to hash or log it). */
export function imageUrl(image: ImageRef): string {
  return typeof image === "string"
    ? image
    : `data:${image.mime};base64,${Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength).toString("base64")}`;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string | ContentPart[];
}

/** Schema names are a contract with the offline referee (docs/ARCHITECTURE.md). */
export type SchemaName = "arr_rank" | "arr_criteria" | "arr_categories";

export interface VlmRequest {
  messages: ChatMessage[];
  /** Named JSON schema; the name tells the offline referee what is asked. */
  schema?: { name: SchemaName; json: Record<string, unknown> };
  signal?: AbortSignal;
}

export interface VlmResponse {
  /** The assistant message content ("" when the server sent none). */
  text: string;
  /** Token counts as reported (0 when the server reported nothing). */
  usage: TokenUsage;
  /** Wall time of this request, including retries and endpoint failover. */
  latencyMs: number;
  /** Model name the server reported (falls back to the configured one). */
  model: string;
  /** Base URL of the endpoint that answered. */
  endpoint: string;
}

export interface VlmClient {
  readonly model: string;
  complete(req: VlmRequest): Promise<VlmResponse>;
  /** The meter this client records usage into, if any (so callers don't count a call twice). */
  readonly meter?: UsageMeter;
  /**
   * Request settings that change the answer (temperature, max_tokens, structured mode, extra_body);
   * part of verdict cache keys.
   */
  readonly params?: Readonly<Record<string, unknown>>;
}

export interface VlmClientOptions {
  /** Environment to read the API key from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Usage is recorded here; its budget is checked before every call. */
  meter?: UsageMeter;
  /** Transport override (passed to the openai SDK); default: createTransport() over undici. */
  fetch?: typeof fetch;
  /** Clock for endpoint cooldowns (tests). */
  now?: () => number;
}

/** A client plus endpoint health, for summaries and tests. */
export interface PooledVlmClient extends VlmClient {
  endpoints(): ReadonlyArray<Readonly<EndpointState>>;
}

/** Models that reject `max_tokens` and want `max_completion_tokens` (OpenAI reasoning models). */
const COMPLETION_TOKENS_MODELS = /^(o\d|gpt-5)/i;

function baseUrls(config: VlmConfig): string[] {
  if (config.base_url == null) {
    throw new ConfigError("vlm.base_url is not set", {
      path: "vlm.base_url",
      hint: 'set vlm.base_url to your server, e.g. "http://localhost:8000/v1", or use provider: referee',
    });
  }
  return Array.isArray(config.base_url) ? config.base_url : [config.base_url];
}

function apiKey(config: VlmConfig, env: NodeJS.ProcessEnv): string {
  if (config.api_key_env == null) return "EMPTY"; // local servers accept any key
  const key = env[config.api_key_env];
  if (!key) {
    throw new ConfigError(
      `vlm.api_key_env names ${config.api_key_env}, which is not set in the environment`,
      {
        path: "vlm.api_key_env",
        hint: `export ${config.api_key_env}=... before running, or set vlm.api_key_env: null for a local server`,
      },
    );
  }
  return key;
}

/** The request settings that change the answer (also part of verdict cache keys). */
export function vlmParams(config: VlmConfig): Record<string, unknown> {
  return {
    temperature: config.temperature,
    max_tokens: config.max_tokens,
    structured_output: config.structured_output,
    extra_body: config.extra_body,
  };
}

function responseFormat(
  config: VlmConfig,
  schema: VlmRequest["schema"],
): Record<string, unknown> | undefined {
  if (!schema || config.structured_output === "none") return undefined;
  if (config.structured_output === "json_object") return { type: "json_object" };
  return { type: "json_schema", json_schema: { name: schema.name, schema: schema.json, strict: true } };
}

/** Whether a failure is the endpoint's fault (set it aside, try another) rather than the request's. */
function endpointFault(error: unknown): boolean {
  if (error instanceof APIConnectionError) return true; // includes timeouts
  if (error instanceof APIError) {
    const s = error.status ?? 0;
    return s === 408 || s === 409 || s === 429 || s >= 500;
  }
  return false;
}

function describe(error: unknown): string {
  if (error instanceof APIConnectionTimeoutError) return "timed out";
  if (error instanceof APIConnectionError) return "connection failed";
  if (error instanceof APIError) return `HTTP ${error.status ?? "?"}`;
  return error instanceof Error ? error.message : String(error);
}

export function createVlmClient(config: VlmConfig, options: VlmClientOptions = {}): PooledVlmClient {
  const urls = baseUrls(config);
  const key = apiKey(config, options.env ?? process.env);
  const pool = new EndpointPool(urls, config.endpoint_cooldown_ms, options.now);
  const transport = options.fetch ?? createTransport();
  const sdk = new Map<string, OpenAI>(
    urls.map((url) => [
      url,
      new OpenAI({
        apiKey: key,
        baseURL: url,
        timeout: config.timeout_ms,
        maxRetries: config.max_retries,
        fetch: transport,
      }),
    ]),
  );
  const gate = new Semaphore(config.concurrency);
  // Request bodies (about 1 MB per 512x512 pair) live for a whole round trip; fresh ones each time
  // kept V8 running full collections under load (see buffer-pool.ts).
  const bodyMemory = new BufferPool();
  const meter = options.meter;

  const body = (req: VlmRequest): Record<string, unknown> => {
    const b: Record<string, unknown> = { ...config.extra_body, model: config.model, messages: req.messages };
    if (config.temperature != null) b.temperature = config.temperature;
    if (config.max_tokens != null) {
      b[COMPLETION_TOKENS_MODELS.test(config.model) ? "max_completion_tokens" : "max_tokens"] =
        config.max_tokens;
    }
    const rf = responseFormat(config, req.schema);
    if (rf) b.response_format = rf;
    return b;
  };

  async function complete(req: VlmRequest): Promise<VlmResponse> {
    const signal = req.signal;
    if (signal?.aborted) throw new AbortError("VLM request cancelled");
    // Budget first: a refused call must not queue, spend or touch an endpoint.
    const settle = meter?.reserve();
    let release: (() => void) | undefined;
    try {
      release = await gate.acquire(signal);
    } catch {
      settle?.();
      throw new AbortError("VLM request cancelled while waiting for a slot");
    }
    const started = performance.now();
    const failures: string[] = [];
    let lastError: unknown;
    // extra_body keys go straight into the JSON body; the SDK types don't know them.
    const params = body(req) as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;
    let encoded: Buffer | undefined;
    try {
      // Pre-encoded once for every endpoint and retry: the SDK would JSON.stringify megabytes of
      // base64 (see request-body.ts).
      encoded = encodeRequestBody(params, bodyMemory);
      for (const ep of pool.plan()) {
        pool.begin(ep);
        try {
          const client = sdk.get(ep.url) as OpenAI;
          const res = (await client.chat.completions.create(params, {
            body: encoded,
            headers: { "content-type": "application/json" },
            ...(signal ? { signal } : {}),
          })) as OpenAI.ChatCompletion;
          pool.succeed(ep);
          const usage: TokenUsage = {
            promptTokens: res.usage?.prompt_tokens ?? 0,
            completionTokens: res.usage?.completion_tokens ?? 0,
          };
          settle?.(usage);
          return {
            text: res.choices?.[0]?.message?.content ?? "",
            usage,
            latencyMs: performance.now() - started,
            model: res.model || config.model,
            endpoint: ep.url,
          };
        } catch (error) {
          if (error instanceof APIUserAbortError || signal?.aborted) {
            pool.release(ep);
            throw new AbortError("VLM request cancelled", { cause: error });
          }
          if (!endpointFault(error)) {
            pool.release(ep);
            const auth = error instanceof AuthenticationError || error instanceof PermissionDeniedError;
            throw new VlmError(`VLM request to ${ep.url} failed: ${describe(error)}`, {
              retriable: false,
              endpoint: ep.url,
              cause: error,
              hint: auth
                ? `the server refused the API key from ${config.api_key_env ?? "(none configured)"}; check vlm.api_key_env`
                : `check vlm.model ("${config.model}") and vlm.structured_output against what the server supports`,
            });
          }
          pool.fail(ep);
          failures.push(`${ep.url}: ${describe(error)}`);
          lastError = error;
        }
      }
    } catch (error) {
      settle?.();
      throw error;
    } finally {
      release();
      // The transport returns only once the reply is read, so no request is still sending this body.
      if (encoded) bodyMemory.release(encoded);
    }
    settle?.();
    throw new VlmError(
      `VLM request failed on every endpoint after ${config.max_retries} retries each (${failures.join("; ")})`,
      {
        retriable: true,
        endpoint: urls.length === 1 ? urls[0] : undefined,
        cause: lastError,
        hint: "check that the server is up and reachable; raise vlm.timeout_ms or vlm.max_retries for slow servers",
      },
    );
  }

  return {
    model: config.model,
    complete,
    ...(meter ? { meter } : {}),
    params: vlmParams(config),
    endpoints: () => pool.endpoints,
  };
}

/** What `openVlm` hands a command: the client and a `close()` that stops anything it started. */
export interface OpenedVlm {
  client: VlmClient;
  config: VlmConfig;
  close(): Promise<void>;
}

/**
 * Opens the VLM a command needs, the same way for every command: an OpenAI-compatible client, or,
 * for `provider: referee`, the offline rule-based referee started on loopback first.
 */
export async function openVlm(
  config: Config | VlmConfig,
  options: VlmClientOptions = {},
): Promise<OpenedVlm> {
  const vlm = "run" in config || "judge" in config ? (config as Config).vlm : (config as VlmConfig);
  if (!vlm) {
    throw new ConfigError("the config has no vlm section", {
      path: "vlm",
      hint: "add a vlm section (model, base_url) or use a preset that has one",
    });
  }
  if (vlm.provider !== "referee")
    return { client: createVlmClient(vlm, options), config: vlm, close: async () => {} };

  // Lazy: only the referee provider loads the referee.
  const { startReferee } = await import("../referee/index.js");
  const referee = await startReferee();
  const resolved: VlmConfig = { ...vlm, base_url: referee.url, api_key_env: null };
  return { client: createVlmClient(resolved, options), config: resolved, close: () => referee.close() };
}
