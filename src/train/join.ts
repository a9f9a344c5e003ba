/**
 * `joinRun()`: this node's share of a multi-node run that node 0 owns (`arr train --join URL`).
 *
 * Node 0 runs `arr train` with `train.distributed.nnodes > 1`: it owns the judge, the reward service,
 * the run directory and the model checkpoints. Every other node runs this, which
 * 1. asks node 0's service what to run (`GET /v1/join`, with the run's token);
 * 2. makes its run directory: node 0's own when `shared_run_dir` (a shared filesystem), else a local
 *    copy (`--run-dir`, default `runs/<node 0's run name>-node<N>`) with the prompts and a run.json
 *    whose workers talk to node 0's service; a resumed run must rejoin with the same copy, which
 *    holds this node's ranks' checkpoint state;
 * 3. launches torchrun for its ranks in the run's rendezvous, bound to this process's life like
 *    node 0's, and waits for it. Its workers sample, upload their samples (without a shared run
 *    directory) and train; node 0 records metrics and judgements.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ConfigError, TrainingError, UsageError } from "../errors.js";
import { pythonEnv, resolvePython } from "../runtime/python.js";
import { launchWorkers, type WorkersExit, workerEnv } from "../runtime/torchrun.js";
import { type JoinInfo, JoinInfoSchema } from "./join-info.js";
import { runPaths } from "./run-dir.js";
import { extractTraceback, pythonError } from "./worker-failure.js";

export interface JoinOptions {
  /** Node 0's reward service, as node 0 printed it (e.g. http://10.0.0.5:41234). */
  url: string;
  /** The run's token (the CLI reads it from ARR_JOIN_TOKEN or stdin, never from argv). */
  token: string;
  /** This node's rank, 1..nnodes-1; default 1 when the run has two nodes. */
  nodeRank?: number;
  /** This node's copy of the run directory (ignored with a shared run directory). */
  runDir?: string;
  /** Aborting kills this node's workers at once (node 0's run then fails or restarts its group). */
  killSignal?: AbortSignal;
  /** Worker log lines. */
  onLog?: (line: string) => void;
}

export interface JoinResult {
  runId: string;
  nodeRank: number;
  runDir: string;
  exit: WorkersExit;
}

export async function joinRun(options: JoinOptions): Promise<JoinResult> {
  const url = options.url.replace(/\/+$/, "");
  const info = await fetchJoinInfo(url, options.token);
  const { distributed } = info;
  const nodeRank = options.nodeRank ?? (distributed.nnodes === 2 ? 1 : null);
  if (nodeRank === null || nodeRank < 1 || nodeRank >= distributed.nnodes) {
    throw new UsageError(`--node-rank: give this node's rank, 1 to ${distributed.nnodes - 1}`, {
      hint: `run ${info.run_id} has ${distributed.nnodes} nodes; node 0 is the one that started it`,
    });
  }
  const paths = runPaths(
    distributed.shared_run_dir
      ? info.worker.run_dir
      : resolve(options.runDir ?? join("runs", `${info.run_name}-node${nodeRank}`)),
  );
  if (distributed.shared_run_dir && !existsSync(paths.dir)) {
    throw new ConfigError(`${paths.dir}: node 0's run directory is not visible on this node`, {
      hint: "mount the shared filesystem at the same path, or run with train.distributed.shared_run_dir: false",
    });
  }
  await mkdir(paths.checkpoints, { recursive: true });
  await mkdir(paths.samples, { recursive: true });
  if (!distributed.shared_run_dir) await writeFile(paths.prompts, info.prompts);
  const runJson = distributed.shared_run_dir ? join(paths.dir, `run-node${nodeRank}.json`) : paths.runJson;
  const worker = {
    ...info.worker,
    distributed: { ...info.worker.distributed, node_rank: nodeRank },
    service: { url, token: null },
    run_dir: paths.dir,
    prompts_file: distributed.shared_run_dir ? info.worker.prompts_file : paths.prompts,
  };
  await writeFile(runJson, `${JSON.stringify(worker, null, 2)}\n`);

  const python = resolvePython();
  const workers = launchWorkers({
    python: python.path,
    env: { ...workerEnv(pythonEnv(), null), ARR_SERVICE_TOKEN: options.token },
    distributed: { ...distributed, node_rank: nodeRank },
    runJson,
    runId: info.run_id,
    cwd: paths.dir,
    ...(options.onLog ? { onLine: options.onLog } : {}),
  });
  const onKill = () => void workers.terminate(2_000);
  options.killSignal?.addEventListener("abort", onKill);
  let exit: WorkersExit;
  try {
    exit = await workers.exited;
  } finally {
    options.killSignal?.removeEventListener("abort", onKill);
  }
  if (exit.exitCode !== 0 && !options.killSignal?.aborted) {
    const traceback = extractTraceback(exit.tail);
    const cause = pythonError(traceback);
    throw new TrainingError(
      `node ${nodeRank}'s workers failed (exit ${exit.exitCode ?? exit.signal})${cause ? `: ${cause}` : ""}`,
      {
        hint: `node 0 reports the run's state; rejoin with the same --run-dir once fixed. Worker output:\n${traceback}`,
      },
    );
  }
  return { runId: info.run_id, nodeRank, runDir: paths.dir, exit };
}

/** `GET /v1/join` on node 0's service, with errors that say what to check. */
async function fetchJoinInfo(url: string, token: string): Promise<JoinInfo> {
  let response: Response;
  try {
    response = await fetch(`${url}/v1/join`, { headers: { authorization: `Bearer ${token}` } });
  } catch (error) {
    throw new UsageError(`cannot reach node 0's reward service at ${url}: ${String(error)}`, {
      hint: "use the URL node 0 printed, and bind its service beyond loopback (train.service.bind: 0.0.0.0)",
      cause: error,
    });
  }
  if (response.status === 401) {
    throw new UsageError(`node 0's service at ${url} refused the token`, {
      hint: "give this node the run's token in ARR_JOIN_TOKEN (or on stdin)",
    });
  }
  if (response.status === 404) {
    throw new UsageError(`the run served at ${url} takes no other nodes (train.distributed.nnodes is 1)`);
  }
  const parsed = JoinInfoSchema.safeParse(await response.json().catch(() => null));
  if (!response.ok || !parsed.success) {
    throw new UsageError(`node 0's service at ${url} gave no usable join answer (HTTP ${response.status})`, {
      hint: "node 0 and this node must run the same autorubric version",
    });
  }
  return parsed.data;
}
