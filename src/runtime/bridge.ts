/**
 * The typed bridge to the Python runtime: one call surface, `bridge.call<T>(op, args)`, that goes
 * through `autorubric_runtime.facade.call(op, json)` over pythonia and returns parsed JSON.
 *
 * pythonia is powerful but has sharp edges (see shared notes, typescript-stack §2-§3); this module
 * exists to file them off:
 * - it spawns Python when it is *imported*, so it is imported lazily here, never at module load;
 * - it reads the interpreter (`PYTHON_BIN`) and its timeout (`REQ_TIMEOUT`) from `process.env` once,
 *   so both are set, together with the runtime's environment, just around the spawn;
 * - it never notices that Python died, so this module watches the child itself and rejects every
 *   pending call the moment it exits;
 * - its exceptions carry an empty message, so the facade returns errors as data instead;
 * - it keeps Node alive until `python.exit()`, so `close()` always calls it (and a process `exit`
 *   hook kills the child if the caller forgot).
 *
 * pythonia holds one interpreter per Node process, so at most one bridge is open at a time; use one
 * process per bridge (torchrun workers) for parallel Python work.
 */
import type { ChildProcess } from "node:child_process";
import { AbortError, BridgeError } from "../errors.js";
import { pythonEnv, resolvePython, setupCommand } from "./python.js";

/** Options for {@link createBridge}. */
export interface BridgeOptions {
  /** Interpreter to run; default: `ARR_PYTHON`, else `py-runtime/.venv/bin/python`. */
  python?: string;
  /** Extra environment variables for Python (on top of the runtime's). */
  env?: Record<string, string>;
  /** Default per-call deadline in ms (none when unset). A call past it kills the interpreter. */
  timeoutMs?: number;
  /** How long starting Python and importing the facade may take (default 60 s). */
  startTimeoutMs?: number;
  /**
   * The Python module whose `call(op, args_json)` serves calls (default `autorubric_runtime.facade`).
   * A module that wraps the facade's `call` with ops of its own, as the bridge tests do, goes here.
   */
  facade?: string;
}

/** Per-call options. */
export interface CallOptions {
  /**
   * Deadline for this call in ms. Python calls cannot be interrupted, and every later call would queue
   * behind a hung one, so an expired deadline terminates the interpreter and closes the bridge.
   */
  timeoutMs?: number;
  /**
   * Rejects the call with `AbortError` at once. The Python side finishes the op in the background and
   * its result is discarded; later calls queue behind it.
   */
  signal?: AbortSignal;
}

/** An open bridge to one Python interpreter. */
export interface Bridge {
  /** Runs `op` from the facade's op table with JSON arguments; resolves with its JSON result. */
  call<T = unknown>(op: string, args?: Record<string, unknown>, options?: CallOptions): Promise<T>;
  /** Terminates Python (always) and releases everything that would keep Node alive. Idempotent. */
  close(): Promise<void>;
  /** Process id of the Python interpreter. */
  readonly pid: number;
  /** The interpreter path in use. */
  readonly python: string;
  /** False once Python exited or `close()` was called. */
  readonly alive: boolean;
}

/** The slice of pythonia this module uses (its own typings are mostly `any`). */
interface PythoniaModule {
  python: ((module: string) => Promise<PyProxy>) & { exit(): void };
  com: { proc: ChildProcess | null; start(): void };
}
type PyProxy = Record<string, unknown>;
type PyFunction = (...args: unknown[]) => Promise<unknown>;

let pythonia: PythoniaModule | null = null;
let active: BridgeImpl | null = null;
// Set while a bridge is being created, so two concurrent createBridge() calls cannot share pythonia.
let starting = false;

/** Sets `vars` in `process.env` while `fn` runs, then restores the previous values. */
async function withProcessEnv<T>(vars: Record<string, string>, fn: () => Promise<T> | T): Promise<T> {
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(vars)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Starts (or restarts) pythonia's interpreter with our environment and returns its child process. */
async function spawnPython(pythonPath: string, extraEnv: Record<string, string>): Promise<PythoniaModule> {
  const env = pythonEnv(process.env, {
    ...extraEnv,
    PYTHON_BIN: pythonPath,
    // Our own deadlines replace pythonia's 100 s default (whose expiry leaves Python running).
    REQ_TIMEOUT: "0",
  });
  const changed: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (process.env[k] !== v) changed[k] = v;
  return withProcessEnv(changed, async () => {
    if (pythonia === null) {
      // Importing pythonia spawns the interpreter; the env above is what the child inherits.
      const mod = (await import("pythonia")) as unknown as { default?: PythoniaModule } & PythoniaModule;
      pythonia = mod.default ?? mod;
    } else if (pythonia.com.proc === null) {
      pythonia.com.start();
    }
    return pythonia;
  });
}

function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes start with ESC
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

interface Pending {
  reject(error: unknown): void;
}

class BridgeImpl implements Bridge {
  readonly pid: number;
  private readonly proc: ChildProcess;
  private readonly pending = new Set<Pending>();
  private facadeCall: PyFunction | null = null;
  private exitError: BridgeError | null = null;
  private closed = false;
  private readonly exited: Promise<void>;
  private readonly killOnExit = () => {
    this.proc.kill("SIGKILL");
  };

  constructor(
    private readonly mod: PythoniaModule,
    readonly python: string,
    private readonly defaultTimeoutMs: number | undefined,
  ) {
    const proc = mod.com.proc;
    if (proc === null || proc.pid === undefined) {
      throw new BridgeError(`could not start Python (${python})`, {
        pythonType: "SetupError",
        hint: "run `arr doctor` to check the interpreter",
      });
    }
    this.proc = proc;
    this.pid = proc.pid;
    this.exited = new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        // Died before we could listen (a non-Python binary, say): fail every call from now on.
        this.onExit(proc.exitCode, proc.signalCode);
        resolve();
        return;
      }
      proc.once("exit", (code, signal) => {
        this.onExit(code, signal);
        resolve();
      });
    });
    // An IPC write to a dead child is reported as an 'error' event; unhandled, it would crash Node.
    proc.on("error", (error: NodeJS.ErrnoException) => {
      // A broken pipe means the child is going away: its exit event says how, so prefer that, and
      // fall back to the pipe error only if no exit event follows.
      const dying =
        error.code === "EPIPE" || error.code === "ERR_IPC_CHANNEL_CLOSED" || error.code === "ECONNRESET";
      if (dying) setTimeout(() => this.onExit(null, null, error), 1000).unref();
      else this.onExit(null, null, error);
    });
    process.once("exit", this.killOnExit);
  }

  get alive(): boolean {
    return !this.closed && this.exitError === null;
  }

  async start(startTimeoutMs: number, facadeModule: string): Promise<void> {
    const importing = (async () => {
      const facade = await this.mod.python(facadeModule);
      // `facade.call(...)` would hit pythonia's special-casing of a trailing `.call`; fetch the
      // function object once and invoke it directly.
      this.facadeCall = (await (facade.call as PromiseLike<unknown>)) as PyFunction;
    })();
    try {
      await this.track(importing, { timeoutMs: startTimeoutMs }, `importing ${facadeModule}`);
    } catch (error) {
      await this.close();
      if (error instanceof BridgeError && error.pythonType !== "PythoniaError") throw error;
      const detail = error instanceof Error ? stripAnsi(error.stack ?? error.message) : String(error);
      throw new BridgeError(`Python (${this.python}) cannot import ${facadeModule}`, {
        pythonType: "ImportError",
        traceback: detail,
        hint: `run \`arr doctor\`; if the runtime is missing, \`${setupCommand()}\``,
        cause: error,
      });
    }
  }

  async call<T = unknown>(
    op: string,
    args: Record<string, unknown> = {},
    options: CallOptions = {},
  ): Promise<T> {
    if (this.exitError) throw this.exitError;
    if (this.closed || this.facadeCall === null) {
      throw new BridgeError(`bridge is closed (op ${op})`, {
        pythonType: "BridgeClosed",
        hint: "create a new bridge with createBridge()",
      });
    }
    const json = JSON.stringify(args);
    const text = await this.track(
      (this.facadeCall as PyFunction)(op, json),
      { timeoutMs: options.timeoutMs ?? this.defaultTimeoutMs, signal: options.signal },
      `op ${op}`,
    );
    return parseReply<T>(op, text);
  }

  /** Races a pythonia promise against the interpreter's death, a deadline and an abort signal. */
  private track<T>(
    work: Promise<T>,
    options: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined },
    what: string,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { timeoutMs, signal } = options;
      let timer: NodeJS.Timeout | undefined;
      const entry: Pending = { reject: (error) => settle(() => reject(error)) };
      const onAbort = () => entry.reject(new AbortError(`${what} was cancelled`, { cause: signal?.reason }));
      const settle = (fn: () => void) => {
        if (!this.pending.delete(entry)) return;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        fn();
      };
      if (signal?.aborted) {
        reject(new AbortError(`${what} was cancelled`, { cause: signal.reason }));
        return;
      }
      this.pending.add(entry);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setTimeout(() => {
          entry.reject(
            new BridgeError(`${what} did not finish within ${timeoutMs} ms; the Python process was stopped`, {
              pythonType: "Timeout",
              hint: "raise the timeout, or look at the Python log on stderr for where it hung",
            }),
          );
          // The hung call cannot be interrupted and would block every later call: end the interpreter.
          void this.close();
        }, timeoutMs);
      }
      work.then(
        (value) => settle(() => resolve(value)),
        (error: unknown) =>
          settle(() =>
            reject(
              new BridgeError(`${what} failed inside pythonia`, {
                pythonType: "PythoniaError",
                traceback: error instanceof Error ? stripAnsi(error.stack ?? error.message) : String(error),
                cause: error,
              }),
            ),
          ),
      );
    });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    if (this.exitError !== null) return;
    const how = error
      ? `failed (${error.message})`
      : signal
        ? `was killed by ${signal}`
        : `exited with code ${code}`;
    this.exitError = new BridgeError(
      this.closed ? "bridge is closed" : `the Python process (pid ${this.pid}) ${how}`,
      {
        pythonType: this.closed ? "BridgeClosed" : "ProcessExited",
        hint: this.closed
          ? "create a new bridge with createBridge()"
          : signal === "SIGKILL"
            ? "a SIGKILL is often the out-of-memory killer: lower the batch size or resolution; Python's stderr is above"
            : "Python's stderr (above) shows why; run `arr doctor` to check the runtime",
      },
    );
    for (const p of [...this.pending]) p.reject(this.exitError);
    this.release();
  }

  /** Lets pythonia forget the dead or closed child, so Node can exit and a new bridge can start. */
  private release(): void {
    process.removeListener("exit", this.killOnExit);
    if (this.mod.com.proc === this.proc) this.mod.python.exit();
    if (active === this) active = null;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const closedError = new BridgeError("bridge is closed", {
        pythonType: "BridgeClosed",
        hint: "create a new bridge with createBridge()",
      });
      for (const p of [...this.pending]) p.reject(closedError);
      // pythonia's exit() sends SIGTERM and stops its GC interval, the two things that keep Node alive.
      this.release();
    }
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const escalate = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
      await this.exited;
      clearTimeout(escalate);
    }
  }
}

function parseReply<T>(op: string, text: unknown): T {
  if (typeof text !== "string") {
    throw new BridgeError(`op ${op}: the facade returned ${typeof text}, not JSON text`, {
      pythonType: "ProtocolError",
    });
  }
  let reply: {
    ok: boolean;
    result?: unknown;
    error?: { type?: string; message?: string; traceback?: string };
  };
  try {
    reply = JSON.parse(text);
  } catch (error) {
    throw new BridgeError(`op ${op}: the facade returned invalid JSON`, {
      pythonType: "ProtocolError",
      cause: error,
    });
  }
  if (reply.ok) return reply.result as T;
  const e = reply.error ?? {};
  const type = e.type ?? "Exception";
  throw new BridgeError(`Python ${type} in op ${op}: ${e.message ?? ""}`.trimEnd(), {
    pythonType: type,
    ...(e.traceback === undefined ? {} : { traceback: e.traceback }),
  });
}

/**
 * Starts Python, imports the facade and returns the bridge. Only one bridge may be open per Node
 * process (pythonia holds a single interpreter); close it before creating another.
 */
export async function createBridge(options: BridgeOptions = {}): Promise<Bridge> {
  if (active?.alive || starting) {
    throw new BridgeError("a Python bridge is already open in this process", {
      pythonType: "BridgeBusy",
      hint: "reuse the open bridge or close() it first; pythonia runs one interpreter per Node process",
    });
  }
  // Checked before spawning: pythonia reports a bad interpreter path as an unhandled error event.
  const python = resolvePython(
    options.python === undefined ? process.env : { ARR_PYTHON: options.python },
  ).path;
  starting = true;
  try {
    const mod = await spawnPython(python, options.env ?? {});
    const bridge = new BridgeImpl(mod, python, options.timeoutMs);
    active = bridge;
    await bridge.start(options.startTimeoutMs ?? 60_000, options.facade ?? "autorubric_runtime.facade");
    return bridge;
  } finally {
    starting = false;
  }
}
