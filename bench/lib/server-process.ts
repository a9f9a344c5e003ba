/**
 * The fixed-latency server in a child process, so its CPU work (reading multi-megabyte bodies)
 * lands on the other core instead of the measured client's event loop.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { ServerStats } from "./fixed-server.js";

export interface ServerProcess {
  url: string;
  pid: number;
  stats(): Promise<ServerStats>;
  reset(): Promise<void>;
  setLatency(ms: number): Promise<void>;
  close(): Promise<void>;
}

const ENTRY = fileURLToPath(new URL("./fixed-server.ts", import.meta.url));

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return res.json();
}

export async function startServerProcess(latencyMs = 0): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, BENCH_LATENCY_MS: String(latencyMs) },
  });
  let buffered = "";
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const nl = buffered.indexOf("\n");
      if (nl >= 0) {
        child.stdout?.off("data", onData);
        resolve((JSON.parse(buffered.slice(0, nl)) as { url: string }).url);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`bench server exited early (code ${code})`)));
  });
  const root = url.replace(/\/v1$/, "");
  return {
    url,
    pid: child.pid ?? -1,
    stats: async () => (await (await fetch(`${root}/bench/stats`)).json()) as ServerStats,
    reset: async () => {
      await post(`${root}/bench/reset`, {});
    },
    setLatency: async (ms) => {
      await post(`${root}/bench/config`, { latencyMs: ms });
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.stdin?.end();
      const kill = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(kill);
    },
  };
}
