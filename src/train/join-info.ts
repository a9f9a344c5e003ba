/**
 * What a node joining a multi-node run gets from node 0 (`GET /v1/join` on the reward service,
 * behind the run's bearer token): the rendezvous, the workers' config and the prompts. Nothing in
 * it is secret; the token the joining node already holds is the only credential its workers need.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { z } from "zod";
import { type DistributedConfig, DistributedSchema } from "../config/schema.js";
import { type WorkerConfig, WorkerConfigSchema } from "../runtime/payload.js";
import { PROTOCOL_VERSION } from "./reward-service.js";
import type { RunPaths } from "./run-dir.js";

/** The environment variable that carries a multi-node run's token to `arr train` on every node. */
export const JOIN_TOKEN_ENV = "ARR_JOIN_TOKEN";

export const JoinInfoSchema = z
  .object({
    protocol: z.literal(PROTOCOL_VERSION),
    run_id: z.string().min(1).describe("the run's id (torchrun's rendezvous id)"),
    run_name: z.string().min(1).describe("node 0's run directory name (a joining node's default copy)"),
    distributed: DistributedSchema.describe("node 0's train.distributed (node_rank is the joiner's to set)"),
    worker: WorkerConfigSchema.describe("node 0's run.json"),
    prompts: z.string().describe("node 0's prompts.jsonl, verbatim"),
  })
  .strict();
export type JoinInfo = z.infer<typeof JoinInfoSchema>;

/** Node 0's answer to `GET /v1/join` (read once: the prompts do not change during a run). */
export function joinInfo(run: {
  runId: string;
  paths: RunPaths;
  distributed: DistributedConfig;
  worker: WorkerConfig;
}): JoinInfo {
  return {
    protocol: PROTOCOL_VERSION,
    run_id: run.runId,
    run_name: basename(run.paths.dir),
    distributed: run.distributed,
    worker: run.worker,
    prompts: readFileSync(run.paths.prompts, "utf8"),
  };
}

/**
 * The command another node runs, as node 0 prints it. The token goes in the environment (never in
 * argv, where any process list shows it): by reference when node 0 was given it in
 * {@link JOIN_TOKEN_ENV}, else the value node 0 generated.
 */
export function joinCommand(url: string, nodeRank: number | "N", generatedToken: string | null): string {
  const token = generatedToken ?? `$${JOIN_TOKEN_ENV}`;
  return `${JOIN_TOKEN_ENV}=${token} arr train --join ${url} --node-rank ${nodeRank}`;
}
