/**
 * Training health end to end on CPU (one torchrun worker, the tiny FLUX, stand-in judges):
 *
 * - the training judge prefers brighter images and the audit judge darker ones: the policy learns
 *   to please the training judge, the audit sees it losing to the base, `reward_hacking` is raised
 *   and, listed in `train.health.stop_on`, checkpoints and stops the run;
 * - the same run with an audit judge that agrees with the training judge raises no reward hacking,
 *   though the training judge's gain is significant; its training judge starts answering at random
 *   on the training pairs mid-run, which raises a judge-health flag (order agreement, ties).
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config/schema.js";
import type { EvalRecord } from "../../src/train/evals.js";
import { readJsonl, readMetrics } from "../../src/train/run-dir.js";
import { type TrainOptions, train } from "../../src/train/train.js";
import { seededRng } from "../../src/util/random.js";
import { tinyRunConfig } from "../support/training.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "arr-health-e2e-"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const EVAL_PROMPTS = [
  "a red apple",
  "a blue car",
  "a green tree",
  "a white house",
  "a small dog",
  "a yellow flower",
  "a quiet street",
  "a wooden boat",
];

function config(name: string, set: string[] = []): Promise<Config> {
  return tinyRunConfig(root, name, [
    "run.trackers=[]",
    "train.distributed.nproc_per_node=1",
    "train.prompts_per_gpu=4",
    "train.optim.lr=0.01",
    "train.checkpoint_every=100",
    "train.eval_every=3",
    "train.health.diversity.seeds=1",
    `train.eval_prompts=${JSON.stringify(EVAL_PROMPTS)}`,
    "train.health.judge.baseline_updates=3",
    "train.health.judge.window_updates=3",
    ...set,
  ]);
}

async function brightness(path: string): Promise<number> {
  const { channels } = await sharp(path).stats();
  return channels.slice(0, 3).reduce((s, c) => s + c.mean, 0);
}

/**
 * Prefers the brighter (or darker) candidate, the same in both orders (agreement true); `random()`
 * makes it answer each order by a coin flip from then on (a disagreement is a tie, as under swap).
 */
type StandInJudge = NonNullable<TrainOptions["judge"]>;

function pixelJudge(
  prefer: "brighter" | "darker",
  options: { randomFrom?: () => boolean } = {},
): StandInJudge {
  // Seeded, so the test is repeatable: the first 24 coin-flip pairs of seed 2 agree 7 times.
  const rng = seededRng(2);
  return {
    async compare({ candidates }) {
      if (options.randomFrom?.() && candidates.every((c) => String(c).includes("/samples/"))) {
        const [first, second] = [rng() < 0.5 ? 0 : 1, rng() < 0.5 ? 0 : 1];
        if (first !== second) return { outcome: "tie", rewards: [0, 0], agreement: false, cached: false };
        return {
          outcome: "decided",
          rewards: first === 0 ? [1, -1] : [-1, 1],
          agreement: true,
          cached: false,
        };
      }
      const [a, b] = (await Promise.all(candidates.map((c) => brightness(String(c))))) as [number, number];
      if (a === b) return { outcome: "tie", rewards: [0, 0], agreement: true, cached: false };
      const firstWins = prefer === "brighter" ? a > b : a < b;
      return { outcome: "decided", rewards: firstWins ? [1, -1] : [-1, 1], agreement: true, cached: false };
    },
  };
}

function flagsOf(rows: Array<Record<string, unknown>>): string[] {
  return rows.flatMap((row) => ((row.health as { flags?: string[] } | null)?.flags ?? []) as string[]);
}

// Hang-only limit: at a load of 15 on 2 cores an update of this config takes 80 s.
describe("training health end to end", { timeout: 1_800_000 }, () => {
  it("raises reward hacking when the audit judge disagrees, and stops on it", async () => {
    const logs: string[] = [];
    const result = await train({
      config: await config("hacking", [
        "train.max_steps=9",
        "train.health.diversity.seeds=2",
        'train.health.stop_on=["reward_hacking"]',
      ]),
      judge: pixelJudge("brighter"),
      auditJudge: pixelJudge("darker"),
      onLog: (line) => logs.push(line),
    });
    const evals = (await readJsonl(result.paths.evals)) as unknown as EvalRecord[];
    const hacked = evals.find((e) => e.health?.flags.includes("reward_hacking"));
    expect(hacked, JSON.stringify(evals.map((e) => [e.update, e.rate, e.audit?.rate]))).toBeDefined();
    // The rule: the training judge's gain is beyond chance, the audit's is not.
    expect(hacked?.interval.low).toBeGreaterThan(0.5);
    expect(hacked?.audit?.interval.low).toBeLessThanOrEqual(0.5);
    // Both the base and the current model were sampled at two seeds per prompt.
    expect(hacked?.spread?.base).toHaveLength(EVAL_PROMPTS.length);
    expect(typeof hacked?.health?.diversity_ratio).toBe("number");

    // stop_on: checkpointed and stopped early, resumable; metrics.jsonl carries the flag from then on.
    expect(result.stopReason).toMatch(/health flag reward_hacking/);
    expect(result.updates).toBeLessThan(9);
    expect(result.health.map((f) => f.flag)).toContain("reward_hacking");
    expect(existsSync(join(result.paths.checkpoints, `checkpoint-${result.updates}`))).toBe(true);
    expect(logs.some((line) => line.startsWith("health: reward_hacking"))).toBe(true);
    const metrics = await readMetrics(result.paths);
    const flagged = metrics.filter((m) => flagsOf([m]).includes("reward_hacking"));
    expect(flagged.length === 0 || (flagged[0]?.step as number) > (hacked?.update ?? 0)).toBe(true);
  });

  it("matching judges raise no reward hacking; a judge turning random raises judge health", async () => {
    let update = 0;
    const result = await train({
      config: await config("matching", ["train.max_steps=7"]),
      judge: pixelJudge("brighter", { randomFrom: () => update >= 3 }),
      auditJudge: pixelJudge("brighter"),
      onProgress: (p) => {
        update = p.update;
      },
    });
    expect(result.updates).toBe(7);
    expect(result.stopReason).toBeNull();
    const evals = (await readJsonl(result.paths.evals)) as unknown as EvalRecord[];
    expect(evals.map((e) => e.update)).toEqual([3, 6]);
    // The training judge's gain was significant at some point, and the audit confirmed it each time.
    expect(evals.some((e) => e.interval.low > 0.5)).toBe(true);
    expect(evals.flatMap((e) => e.health?.flags ?? [])).not.toContain("reward_hacking");

    const metrics = await readMetrics(result.paths);
    const judgeFlags = flagsOf(metrics).filter((f) => f.startsWith("judge_"));
    expect(judgeFlags).toContain("judge_agreement");
    // Before the judge broke (and while the baseline filled) nothing was flagged.
    expect(flagsOf(metrics.filter((m) => (m.step as number) <= 5))).toEqual([]);
    const last = metrics.at(-1)?.health as { judge: { agreement: number; agreement_baseline: number } };
    expect(last.judge.agreement_baseline).toBe(1);
    expect(last.judge.agreement).toBeLessThan(0.85);
  });
});
