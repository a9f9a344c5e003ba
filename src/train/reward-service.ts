/**
 * The control and reward service that training workers talk to (protocol v1, docs/ARCHITECTURE.md).
 *
 * Workers submit each candidate pair as soon as it is sampled and collect the rewards later, so
 * judging overlaps with sampling and reference passes instead of blocking every rank (the
 * reference release makes one blocking judge call per pair on every rank).
 *
 * Judge failures never crash the run: a failed judgement gives every candidate reward 0 (zero
 * advantage) and is counted. When judgements have failed without a single success for
 * `outageSeconds`, the stop flag rises so the workers checkpoint and exit cleanly instead of training
 * on nothing: time, not a count, because a count means a different outage at every concurrency.
 *
 * The service is reachable by every process on the machine (and beyond it when bound so): it judges
 * only images under `imageRoots` (the run directory) or the dataset's own source images, refuses
 * bodies over 1 MiB with 413, and no request it refuses ever reaches the judge, so a flood of bad
 * requests can neither read files through the VLM nor fake an outage.
 *
 * A multi-node run also serves what a joining node needs (`GET /v1/join`, src/train/join.ts) and
 * takes the samples of nodes without the run directory (`PUT /v1/samples/<name>`, uploaded-samples.ts).
 *
 * A worker group that starts (a new run, a `--resume`, or torchrun restarting a crashed group) posts
 * a `started` event; judgements still in flight from an earlier group are then no longer recorded,
 * since the updates they belong to are being redone.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { setMaxListeners } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import pLimit from "p-limit";
import { z } from "zod";
import { JUDGE_DEFAULTS, ServiceSchema } from "../config/schema.js";
import type { CompareInput, Verdict } from "../judge/types.js";
import { refuseImages } from "./judged-images.js";
import { BodyTooLarge, MAX_BODY_BYTES, parseBody as parseWith, readJson, send } from "./service-http.js";
import { handleSampleUpload } from "./uploaded-samples.js";

export { MAX_BODY_BYTES };

export const PROTOCOL_VERSION = 1;

/** What the service needs from a judge: compare a prompt's candidates, return outcome and rewards. */
/**
 * The verdict's rank, winner and reason are optional: the service records them when the judge
 * gives them (a stand-in judge may give only outcome and rewards).
 */
export interface RewardJudge {
  compare(
    input: CompareInput,
  ): Promise<
    Pick<Verdict, "outcome" | "rewards" | "agreement" | "cached"> &
      Partial<Pick<Verdict, "ranking" | "winner" | "reason">>
  >;
}

const SubmitSchema = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  rank: z.number().int().nonnegative(),
  step: z.number().int().nonnegative(),
  index: z.number().int().nonnegative(),
  prompt: z.string(),
  source_image: z.string().nullable().default(null),
  images: z.array(z.string().min(1)).min(2),
});

const MetricsSchema = z.object({
  rank: z.number().int().nonnegative(),
  step: z.number().int().nonnegative(),
  metrics: z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()])),
});

const EventSchema = z.object({
  rank: z.number().int().nonnegative(),
  kind: z.enum(["started", "checkpoint", "finished", "stopping", "eval"]),
  data: z.record(z.string(), z.unknown()).default({}),
});

export type JudgementOutcome = "decided" | "tie" | "invalid" | "failed";

/** One judged pair as the service records it. */
export interface JudgementRecord {
  id: string;
  rank: number;
  step: number;
  index: number;
  prompt: string;
  images: string[];
  outcome: JudgementOutcome;
  rewards: number[];
  agreement: boolean | null;
  cached: boolean;
  latencyMs: number;
  /** Rank per image (1 = best) when decided, and the judge's reason (null when it gave none). */
  ranking: number[] | null;
  reason: string | null;
  error?: string;
}

export interface WorkerMetrics {
  rank: number;
  step: number;
  metrics: Record<string, number | string | boolean | null>;
}

export interface WorkerEvent {
  rank: number;
  kind: "started" | "checkpoint" | "finished" | "stopping" | "eval";
  data: Record<string, unknown>;
}

/** Running totals shown on the progress bar and stored in the run summary. */
export interface ServiceStats {
  submitted: number;
  completed: number;
  decided: number;
  tie: number;
  invalid: number;
  failed: number;
  agreed: number;
  withAgreement: number;
  cached: number;
  consecutiveFailures: number;
}

export interface RewardServiceOptions {
  judge: RewardJudge;
  /** Address to bind; loopback by default, 0.0.0.0 when workers on other nodes must reach it. */
  bind?: string;
  port?: number;
  /** Bearer token; a random one by default. */
  token?: string;
  /** Judgements in flight at once (default: the schema's judge.concurrency). */
  concurrency?: number;
  /** Seconds of failed judgements without a success that raise the stop flag. */
  outageSeconds?: number;
  /** Directories whose images may be judged (every image when absent). */
  imageRoots?: readonly string[];
  /** Source images (editing) that may be judged besides those under `imageRoots`. */
  sourceImages?: ReadonlySet<string>;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  onJudgement?: (record: JudgementRecord) => void;
  onMetrics?: (metrics: WorkerMetrics) => void;
  onEvent?: (event: WorkerEvent) => void;
  onStop?: (reason: string) => void;
  /**
   * What `GET /v1/join` answers (a multi-node run: what a joining node needs, src/train/join.ts);
   * absent, the route is 404; null while the run is still starting (503).
   */
  join?: () => unknown;
  /** Where `PUT /v1/samples/<name>` stores the samples of nodes without the run directory; absent, 404. */
  uploadDir?: string;
}

export interface RewardService {
  /** Base URL workers use, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly token: string;
  readonly stats: Readonly<ServiceStats>;
  /** Why workers were asked to stop, or null. */
  readonly stopReason: string | null;
  /** Ask every worker to checkpoint and exit at its next update boundary. */
  requestStop(reason: string): void;
  close(): Promise<void>;
}

interface Pending {
  /** The worker group that submitted it (counts `started` events). */
  generation: number;
  record: JudgementRecord | null;
  waiters: Array<() => void>;
}

const MAX_WAIT_MS = 30_000;

export async function startRewardService(options: RewardServiceOptions): Promise<RewardService> {
  const token = options.token ?? randomBytes(24).toString("hex");
  const expectedAuth = Buffer.from(`Bearer ${token}`);
  const limit = pLimit(options.concurrency ?? JUDGE_DEFAULTS.concurrency);
  const outageMs = (options.outageSeconds ?? ServiceSchema.parse({}).outage_seconds) * 1000;
  const now = options.now ?? (() => performance.now());
  let failingSince: number | null = null;
  let generation = 0;
  const abort = new AbortController();
  // Every judgement in flight listens on this one signal.
  setMaxListeners(0, abort.signal);
  const pending = new Map<string, Pending>();
  const stats: ServiceStats = {
    submitted: 0,
    completed: 0,
    decided: 0,
    tie: 0,
    invalid: 0,
    failed: 0,
    agreed: 0,
    withAgreement: 0,
    cached: 0,
    consecutiveFailures: 0,
  };
  let stopReason: string | null = null;

  const requestStop = (reason: string) => {
    if (stopReason !== null) return;
    stopReason = reason;
    options.onStop?.(reason);
  };

  const finish = (id: string, record: JudgementRecord) => {
    const entry = pending.get(id);
    if (!entry) return;
    entry.record = record;
    stats.completed += 1;
    stats[record.outcome] += 1;
    if (record.cached) stats.cached += 1;
    if (record.agreement !== null) {
      stats.withAgreement += 1;
      if (record.agreement) stats.agreed += 1;
    }
    if (record.outcome === "failed") {
      stats.consecutiveFailures += 1;
      failingSince ??= now() - record.latencyMs;
      const seconds = (now() - failingSince) / 1000;
      if (now() - failingSince >= outageMs) {
        requestStop(
          `judge outage: every judgement failed for ${seconds.toFixed(0)} s ` +
            `(${stats.consecutiveFailures} in a row; last: ${record.error})`,
        );
      }
    } else {
      stats.consecutiveFailures = 0;
      failingSince = null;
    }
    if (entry.generation === generation) options.onJudgement?.(record);
    for (const wake of entry.waiters.splice(0)) wake();
  };

  const judgeLater = (id: string, body: z.infer<typeof SubmitSchema>) => {
    const started = performance.now();
    const base = {
      id,
      rank: body.rank,
      step: body.step,
      index: body.index,
      prompt: body.prompt,
      images: body.images,
    };
    void limit(async () => {
      try {
        const verdict = await options.judge.compare({
          prompt: body.prompt,
          ...(body.source_image ? { sourceImage: body.source_image } : {}),
          candidates: body.images,
          signal: abort.signal,
        });
        finish(id, {
          ...base,
          outcome: verdict.outcome,
          rewards: verdict.rewards,
          agreement: verdict.agreement,
          cached: verdict.cached,
          latencyMs: performance.now() - started,
          ranking: verdict.ranking ?? null,
          reason: verdict.reason ?? null,
        });
      } catch (error) {
        // A judge failure is not evidence about either image: zero advantage, counted, run goes on.
        finish(id, {
          ...base,
          outcome: "failed",
          rewards: body.images.map(() => 0),
          agreement: null,
          cached: false,
          latencyMs: performance.now() - started,
          ranking: null,
          reason: null,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof BodyTooLarge) {
        send(res, 413, { error: error.message }, { close: true });
        return;
      }
      send(res, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = Buffer.from(req.headers.authorization ?? "");
    if (auth.length !== expectedAuth.length || !timingSafeEqual(auth, expectedAuth)) {
      send(res, 401, { error: "missing or wrong bearer token" });
      return;
    }
    const url = new URL(req.url ?? "/", "http://service");
    const route = `${req.method} ${url.pathname}`;
    if (route === "POST /v1/judge") {
      const body = parseBody(SubmitSchema, await readJson(req), res);
      if (!body) return;
      const id = randomBytes(8).toString("hex");
      const refused = refuseImages(body.images, body.source_image, options.imageRoots, options.sourceImages);
      if (refused) {
        send(res, 400, { error: refused });
        return;
      }
      pending.set(id, { generation, record: null, waiters: [] });
      stats.submitted += 1;
      judgeLater(id, body);
      send(res, 202, { id });
      return;
    }
    const resultMatch = /^GET \/v1\/judge\/([0-9a-f]+)$/.exec(route);
    if (resultMatch?.[1]) {
      const id = resultMatch[1];
      const entry = pending.get(id);
      if (!entry) {
        send(res, 404, { error: `unknown judgement id ${id}` });
        return;
      }
      const waitMs = Math.min(Number(url.searchParams.get("wait_ms") ?? 0) || 0, MAX_WAIT_MS);
      if (!entry.record && waitMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          entry.waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      if (!entry.record) {
        send(res, 200, { status: "pending" });
        return;
      }
      const { outcome, rewards, agreement, cached } = entry.record;
      // Delivered results are dropped so a long run does not keep every verdict in memory.
      pending.delete(id);
      send(res, 200, { status: "done", outcome, rewards, agreement, cached });
      return;
    }
    if (route === "POST /v1/metrics") {
      const body = parseBody(MetricsSchema, await readJson(req), res);
      if (!body) return;
      options.onMetrics?.(body);
      send(res, 204);
      return;
    }
    if (route === "POST /v1/event") {
      const body = parseBody(EventSchema, await readJson(req), res);
      if (!body) return;
      if (body.kind === "started") generation += 1;
      options.onEvent?.(body);
      send(res, 204);
      return;
    }
    if (options.uploadDir && (await handleSampleUpload(req, res, url.pathname, options.uploadDir))) return;
    if (route === "GET /v1/join" && options.join) {
      const info = options.join();
      send(res, info === null ? 503 : 200, info ?? { error: "the run is starting; try again" });
      return;
    }
    if (route === "GET /v1/control") {
      send(res, 200, { protocol: PROTOCOL_VERSION, stop: stopReason !== null, reason: stopReason });
      return;
    }
    send(res, 404, { error: `no route ${route}` });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.bind ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${advertisedHost(host)}:${address.port}`,
    token,
    stats,
    get stopReason() {
      return stopReason;
    },
    requestStop,
    async close() {
      abort.abort();
      for (const entry of pending.values()) for (const wake of entry.waiters.splice(0)) wake();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The host workers should call: the bound address, or for a wildcard bind (0.0.0.0, ::) the first
 * external IPv4 address of this machine, which workers on other nodes can reach too (loopback when
 * the machine has no external interface).
 */
export function advertisedHost(
  bound: string,
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string {
  if (bound !== "0.0.0.0" && bound !== "[::]") return bound;
  for (const list of Object.values(interfaces)) {
    const external = list?.find((i) => i.family === "IPv4" && !i.internal);
    if (external) return external.address;
  }
  return "127.0.0.1";
}

function parseBody<T extends z.ZodType>(schema: T, raw: unknown, res: ServerResponse): z.infer<T> | null {
  return parseWith(schema, raw, res, PROTOCOL_VERSION);
}
