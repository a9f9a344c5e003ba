/**
 * Bridge benchmarks: per-call latency of the pythonia facade (`ping`), and the cost of handing a
 * 512x512 PNG to Python by path vs by value (base64 in the JSON arguments). Uses only the facade's
 * diagnostic `ping` op (it echoes `echo` and ignores other keys), so no test op is needed; what
 * Python then does with the image (read the file, or decode the base64) is timed in Python itself.
 */
import { readFile } from "node:fs/promises";
import { execa } from "execa";
import { createBridge } from "../src/runtime/bridge.js";
import { pythonEnv, resolvePython } from "../src/runtime/python.js";
import { sampleQuantile } from "./lib/stats.js";

export interface BridgeResult {
  startMs: number;
  pingMs: { median: number; p90: number; n: number };
  /** 200 calls issued at once; Python runs them one after another. */
  pipelinedMsPerCall: number;
  imageBytes: number;
  base64Bytes: number;
  /** Node-side call time (send + Python parse + reply), median ms. */
  byPathMs: number;
  byValueOneWayMs: number;
  byValueRoundTripMs: number;
  /** Python-side work after the call, median ms (timed in a plain interpreter). */
  pythonReadFileMs: number;
  pythonB64DecodeMs: number;
}

async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const PY_SIDE = `
import base64, json, sys, time, statistics
path = sys.argv[1]
data = open(path, "rb").read()
b64 = base64.b64encode(data).decode()
def med(fn, n=50):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)
print(json.dumps({"read": med(lambda: open(path, "rb").read()), "b64": med(lambda: base64.b64decode(b64))}))
`;

export async function benchBridge(image512: string): Promise<BridgeResult> {
  const t0 = performance.now();
  const bridge = await createBridge({ timeoutMs: 60_000 });
  const startMs = performance.now() - t0;
  try {
    const ping = await timed(200, () => bridge.call("ping", {}));
    const tp = performance.now();
    await Promise.all(Array.from({ length: 200 }, () => bridge.call("ping", {})));
    const pipelinedMsPerCall = (performance.now() - tp) / 200;

    const bytes = await readFile(image512);
    const b64 = bytes.toString("base64");
    const byPath = await timed(30, () => bridge.call("ping", { path: image512 }));
    const oneWay = await timed(30, async () =>
      bridge.call("ping", { image_b64: (await readFile(image512)).toString("base64") }),
    );
    const roundTrip = await timed(30, () => bridge.call("ping", { echo: b64 }));

    const py = resolvePython().path;
    const side = await execa(py, ["-c", PY_SIDE, image512], { env: pythonEnv() });
    const sideMs = JSON.parse(side.stdout.trim()) as { read: number; b64: number };
    return {
      startMs,
      pingMs: { median: sampleQuantile(ping, 0.5), p90: sampleQuantile(ping, 0.9), n: ping.length },
      pipelinedMsPerCall,
      imageBytes: bytes.length,
      base64Bytes: b64.length,
      byPathMs: sampleQuantile(byPath, 0.5),
      byValueOneWayMs: sampleQuantile(oneWay, 0.5),
      byValueRoundTripMs: sampleQuantile(roundTrip, 0.5),
      pythonReadFileMs: sideMs.read,
      pythonB64DecodeMs: sideMs.b64,
    };
  } finally {
    await bridge.close();
  }
}
