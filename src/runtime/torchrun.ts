/**
 * Launches the Python training workers with torchrun (through `python -m torch.distributed.run`,
 * so the venv's torch is the one used) and supervises them.
 *
 * The workers run in their own process group: a terminal Ctrl-C reaches only the controller, which
 * asks the workers to checkpoint through the reward service; killing the group guarantees that no
 * worker outlives the run, whatever happened to torchrun itself.
 */
import { execa, type ResultPromise } from "execa";
import type { DistributedConfig } from "../config/schema.js";

export interface LaunchWorkersOptions {
  /** Python interpreter of the runtime. */
  python: string;
  /** Environment for the workers (PYTHONPATH, HF_HUB_OFFLINE, ...). */
  env: NodeJS.ProcessEnv;
  distributed: DistributedConfig;
  /** The run JSON the worker reads (`--config`). */
  runJson: string;
  /** Rendezvous id for multi-node runs (all nodes must use the same). */
  runId: string;
  cwd: string;
  /** Called with every line the workers write to stderr or stdout. */
  onLine?: (line: string) => void;
}

export interface WorkersExit {
  exitCode: number | null;
  signal: string | null;
  /** The last lines the workers printed: the traceback of a crash is in there. */
  tail: string[];
}

export interface WorkerGroup {
  readonly pid: number | undefined;
  /** Resolves when torchrun exits (never rejects). */
  readonly exited: Promise<WorkersExit>;
  /** SIGTERM the group, then SIGKILL after `graceMs`. */
  terminate(graceMs?: number): Promise<WorkersExit>;
}

const TAIL_LINES = 80;

/** Hub tokens the workers need to download gated weights; every other credential stays out. */
const WORKER_SECRETS = new Set(["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]);

/** A variable name that holds a credential (`OPENAI_API_KEY`, `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`). */
function isCredentialName(name: string): boolean {
  return /(API_?KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS?|ACCESS_KEY)/i.test(name);
}

/**
 * The environment for the workers: `base` without the VLM's key (`vlmKeyEnv`) nor any other
 * credential-named variable (hub tokens aside). Only the controller talks to the VLM.
 */
export function workerEnv(base: NodeJS.ProcessEnv, vlmKeyEnv: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (name === vlmKeyEnv) continue;
    if (isCredentialName(name) && !WORKER_SECRETS.has(name)) continue;
    env[name] = value;
  }
  return env;
}

/**
 * torchrun's arguments for this node. Pure, so the multi-node form is testable. The schema already
 * requires `rdzv_endpoint` when `nnodes > 1` (config/schema/rules.ts).
 */
export function torchrunArgs(distributed: DistributedConfig, runJson: string, runId: string): string[] {
  const args = [
    "-m",
    "autorubric_runtime.launch",
    `--nproc_per_node=${distributed.nproc_per_node}`,
    `--max-restarts=${distributed.max_restarts}`,
  ];
  if (distributed.rdzv_endpoint === null) {
    args.push("--standalone");
  } else {
    args.push(
      `--nnodes=${distributed.nnodes}`,
      `--node_rank=${distributed.node_rank}`,
      "--rdzv_backend=c10d",
      `--rdzv_endpoint=${distributed.rdzv_endpoint}`,
      `--rdzv_id=${runId}`,
      // Node 0 hosts the rendezvous store: the run lives as long as the node that owns it.
      `--rdzv_conf=is_host=${distributed.node_rank === 0 ? 1 : 0}`,
    );
  }
  args.push("-m", "autorubric_runtime.worker", "--config", runJson);
  return args;
}

export function launchWorkers(options: LaunchWorkersOptions): WorkerGroup {
  const tail: string[] = [];
  const child: ResultPromise = execa(
    options.python,
    torchrunArgs(options.distributed, options.runJson, options.runId),
    {
      cwd: options.cwd,
      // The launcher binds torchrun's life to this process (autorubric_runtime/lifeline.py).
      env: { ...options.env, ARR_CONTROLLER_PID: String(process.pid) },
      extendEnv: false,
      detached: true,
      reject: false,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      all: true,
      buffer: false,
    },
  );
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  const onParentExit = () => killGroup("SIGKILL");
  process.once("exit", onParentExit);

  let partial = "";
  child.all?.on("data", (chunk: Buffer) => {
    const text = partial + chunk.toString("utf8");
    const lines = text.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine?.(line);
    }
  });

  const exited: Promise<WorkersExit> = child.then((result) => {
    process.removeListener("exit", onParentExit);
    if (partial) {
      tail.push(partial);
      options.onLine?.(partial);
    }
    // torchrun may have died abruptly; make sure none of its workers survive it.
    killGroup("SIGKILL");
    return {
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? null,
      tail: [...tail],
    };
  });

  return {
    pid: child.pid,
    exited,
    async terminate(graceMs = 10_000) {
      killGroup("SIGTERM");
      const timer = setTimeout(() => killGroup("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
