import { loadConfig } from "../src/config/load.js";
import { train } from "../src/train/train.js";
const loaded = await loadConfig({ preset: "tiny-cpu", set: ["train.max_steps=3", "run.output_dir=/tmp/h9-runs", "train.eval_every=0", "train.checkpoint_every=100"] });
const judge = { compare: async (i: { candidates: string[] }) => ({ outcome: "decided" as const, rewards: [1, -0.1], agreement: true, cached: false }) };
const t0 = performance.now();
const r = await train({ config: loaded.config, judge, onLog: (l) => console.error(l), onProgress: (p) => console.error(JSON.stringify(p.split)) });
console.log((performance.now() - t0) / 1000, r.updates, JSON.stringify(r.lastMetrics));
