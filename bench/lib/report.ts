/**
 * Renders bench/results.json into bench/RESULTS.md. Every number in the output comes from the
 * results object; the prose around it says what was measured and how, never what it should be.
 */
import type { ThroughputRow } from "../judge.js";
import { parquetTargets, renderParquet } from "../parquet.js";
import type { BenchResults } from "../run.js";

const f = (x: number | null | undefined, d = 1) => (x == null || !Number.isFinite(x) ? "—" : x.toFixed(d));
const pct = (x: number | null | undefined) => (x == null ? "—" : `${(x * 100).toFixed(0)}%`);
const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
const size = (bytes: number) => (bytes < 1e5 ? `${Math.round(bytes / 1e3)} KB` : `${mb(bytes)} MB`);

/** A judge row with the 512 px images (not a control). */
const fullSize = (t: ThroughputRow) => t.client !== "raw-http" && (t.imagePx ?? 512) === 512;

function table(head: string[], rows: Array<Array<string | number>>): string {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

export function renderResults(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [];
  out.push("# Benchmarks", "");
  out.push(
    "Produced by `npm run bench` (bench/run.ts); raw figures in `bench/results.json`. Regenerate rather than edit.",
    "",
  );
  out.push(`- Date: ${r.date}${r.quick ? " (**--quick** run: few pairs/steps, noisy)" : ""}`);
  out.push(
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM; Node ${m.node}, openai (Node) ${m.openaiNode}, sharp ${m.sharp}; Python ${m.python ?? "?"}, torch ${m.torch ?? "?"}, diffusers ${m.diffusers ?? "?"}`,
  );
  const loads = Object.entries(r.load)
    .map(([k, [a, b]]) => `${k} ${a.toFixed(1)}→${b.toFixed(1)}`)
    .join(", ");
  out.push(
    `- 1-minute load average per section (start→end): ${loads || "—"}. The machine is shared: a load above the core count means other processes competed for the CPU, which lowers CPU-bound figures (throughput at short latency, wall times); client CPU ms per pair is less sensitive.`,
  );
  const dates = Object.entries(r.sections ?? {})
    .filter(([, d]) => d < r.date)
    .map(([k, d]) => `${k} ${d}`);
  if (dates.length) out.push(`- Sections kept from an earlier run: ${dates.join(", ")}`);
  out.push(`- Whole run: ${f(r.durationS, 0)} s`, "");

  // Targets
  out.push("## Targets", "");
  const trows: Array<Array<string>> = [];
  const ov512 = r.judge?.overhead.find((o) => o.size === 512 && o.label.includes("default"));
  if (ov512) {
    trows.push([
      "judge client overhead per 512x512 PNG pair < 5 ms (issue #3)",
      `${f(ov512.cpuMsPerPair)} ms client CPU, ${f(ov512.wallMsPerPair)} ms wall (png, default encoding)`,
      ov512.cpuMsPerPair < 5 ? "met" : "**not met**",
    ]);
  }
  const at32 = (lat: number, pred: (t: ThroughputRow) => boolean) =>
    r.judge?.throughput.find((t) => t.latencyMs === lat && t.concurrency === 32 && pred(t));
  for (const lat of [200, 1000]) {
    const row = at32(lat, fullSize);
    const bare = at32(lat, (t) => t.client === "raw-http" && (t.bodyBytes ?? 0) > 5e5);
    if (row)
      trows.push([
        `throughput >= 0.9 of ideal at concurrency 32 (${lat} ms latency)`,
        `${f(row.ratio, 2)} (${f(row.pairsPerS)} of ${f(row.idealPairsPerS)} pairs/s)${bare ? `; bare HTTP resending one prebuilt ${size(bare.bodyBytes ?? 0)} body: ${f(bare.ratio, 2)}` : ""}`,
        row.ratio >= 0.9 ? "met" : "**not met**",
      ]);
  }
  if (r.train && "rows" in r.train) {
    for (const row of r.train.rows.filter((x) => x.multiple > 0 && x.multiple < 1 && !x.depth)) {
      trows.push([
        "training: judge wait < 10% of step time when judge latency < sampling time",
        `${pct(row.judgeWaitShare)} at ${f(row.multiple, 1)}x sampling (${row.judgeLatencyMs} ms)`,
        row.judgeWaitShare < 0.1 ? "met" : "**not met**",
      ]);
    }
    for (const row of r.train.rows.filter((x) => x.multiple === 2 && x.depth === 1)) {
      trows.push([
        "training, pipeline depth 1: judge wait < 5% of step time when judge latency = 2x sampling",
        `${pct(row.judgeWaitShare)} at 2x sampling (${row.judgeLatencyMs} ms)`,
        row.judgeWaitShare < 0.05 ? "met" : "**not met**",
      ]);
    }
  }
  if (r.baseline) {
    const ref = r.baseline.rows.filter((x) => x.who === "reference-style");
    const ours = r.baseline.rows.filter(
      (x) => x.who === "autorubric" && x.setup.startsWith("single order, max_side 512"),
    );
    const sum = (rows: typeof ref, k: "calls" | "bodyBytes" | "wallS") => rows.reduce((s, x) => s + x[k], 0);
    const refTrain = ref.filter((x) => x.setup.includes("per pair"));
    if (refTrain.length && ours.length) {
      const ahead =
        sum(ours, "calls") <= sum(refTrain, "calls") &&
        sum(ours, "bodyBytes") < sum(refTrain, "bodyBytes") &&
        sum(ours, "wallS") < sum(refTrain, "wallS");
      const refBatch1 = ref.find((x) => x.setup.includes("semaphore") && x.pass === 1);
      const ours1 = r.baseline.rows.filter((x) => x.who === "autorubric" && x.pass === 1);
      if (refBatch1 && ours1.length) {
        const best = Math.min(...ours1.map((x) => x.wallS));
        trows.push([
          "first-pass wall time vs the reference's batch path (one loop, semaphore 50)",
          `ours ${ours1.map((x) => f(x.wallS, 2)).join(" / ")} s (default / max_side 512 / swap) vs ${f(refBatch1.wallS, 2)} s`,
          best < refBatch1.wallS ? "ahead" : "**not ahead**",
        ]);
      }
      trows.push([
        "ahead of the reference approach on calls, bytes and wall time (two passes, single order, max_side 512 vs asyncio.run per pair)",
        `calls ${sum(ours, "calls")} vs ${sum(refTrain, "calls")}, MB ${mb(sum(ours, "bodyBytes"))} vs ${mb(sum(refTrain, "bodyBytes"))}, wall ${f(sum(ours, "wallS"))} s vs ${f(sum(refTrain, "wallS"))} s`,
        ahead ? "met" : "**not met**",
      ]);
    }
  }
  if (r.parquet) trows.push(...parquetTargets(r.parquet));
  out.push(table(["target", "measured", "status"], trows), "");

  if (r.judge) {
    out.push("## Judge throughput (fixed-latency server, 512x512 PNG pairs, single order)", "");
    out.push(
      "The server (bench/lib/fixed-server.ts) runs in its own process, answers after a fixed delay and never decodes images. Its latency runs from each request's arrival, so its own time receiving bodies is not added on top. Ideal = concurrency / latency pairs per second (one call per pair). A warm-up wave precedes each row, and each row runs ten waves (pairs = 10 x concurrency), so the ramp of the first wave, when every request is prepared at once, weighs a tenth of the run. The client and this server share the machine's cores.",
      "",
    );
    out.push(
      table(
        [
          "images",
          "latency",
          "concurrency",
          "pairs",
          "wall s",
          "pairs/s",
          "ideal",
          "ratio",
          "peak in flight",
        ],
        r.judge.throughput.map((t) => [
          t.client === "raw-http"
            ? `bare HTTP, ${size(t.bodyBytes ?? 0)} body (control)`
            : `${t.imagePx ?? 512} px${(t.imagePx ?? 512) < 512 ? " (control)" : ""}`,
          `${t.latencyMs} ms`,
          t.concurrency,
          t.pairs,
          f(t.wallS, 2),
          f(t.pairsPerS),
          f(t.idealPairsPerS),
          f(t.ratio, 2),
          t.peakInFlight,
        ]),
      ),
      "",
    );
    const raws = r.judge.throughput
      .filter((t) => t.client === "raw-http" && t.latencyMs === 200 && t.concurrency === 32)
      .sort((a, b) => (a.bodyBytes ?? 0) - (b.bodyBytes ?? 0));
    const small = at32(200, (t) => t.client !== "raw-http" && (t.imagePx ?? 512) < 512);
    const full = at32(200, fullSize);
    const [rawSmall, rawBig] = [raws[0], raws.at(-1)];
    if (rawSmall && rawBig && rawBig !== rawSmall && small && full) {
      out.push(
        `At 200 ms x 32 the controls split the gap to the ideal. Bare undici requests that resend one prebuilt body, with no per-call work at all, reach ${f(rawSmall.ratio, 2)} with ${size(rawSmall.bodyBytes ?? 0)} and ${f(rawBig.ratio, 2)} with ${size(rawBig.bodyBytes ?? 0)}: what the stand-in, loopback and the scheduler of this shared two-core machine allow at those sizes. The judge reaches ${f(small.ratio, 2)} with ${small.imagePx}x${small.imagePx} images and ${f(full.ratio, 2)} with 512x512 images (about 1 MB per request); the difference to the bare requests of the same size is the judge's own work per pair (reading, hashing, encoding, the SDK, the verdict).`,
        "",
      );
    }
    out.push("## Judge client overhead per pair (zero-latency server, sequential)", "");
    out.push(
      "Client CPU = user + system CPU of the Node process per pair (read, hash, validate, resize/encode, build messages, JSON, HTTP, parse; sharp's worker threads included). Wall also includes the server's handling of the body on the other core. Each row runs its pairs in batches and reports the median batch, with the lowest and highest batch beside it: on a shared machine a burst of other work inflates a batch, not the figure. Synthetic photo-like PNGs (bench/lib/images.ts, about 1.4 bytes per pixel).",
      "",
    );
    out.push(
      table(
        [
          "image",
          "encoding",
          "pairs",
          "client CPU ms/pair (median batch)",
          "lowest-highest batch",
          "wall ms/pair",
          "request MB/pair",
          "sent unchanged",
        ],
        r.judge.overhead.map((o) => [
          `${o.size}x${o.size}`,
          o.label,
          `${o.batches ?? 1} x ${o.pairs}`,
          f(o.cpuMsPerPair),
          o.cpuMsRange ? `${f(o.cpuMsRange[0])}-${f(o.cpuMsRange[1])}` : "—",
          f(o.wallMsPerPair),
          mb(o.bytesPerPair),
          o.passthrough ? "yes" : "no",
        ]),
      ),
      "",
    );
    const st = r.judge.stages;
    if (st) {
      out.push(
        `### Where a 512x512 pair's client CPU goes (request body ${mb(st.bodyBytes)} MB)`,
        "",
        "Each stage timed on its own with the same two files, body and zero-latency server (bench/lib/stages.ts), median of alternating rounds. Stages marked \"not taken\" are the alternatives the client avoids, shown for scale. What the stages do not cover (the openai SDK's own request handling, the verdict, the event loop's scheduling, garbage collection) is the rest of the end-to-end figure above.",
        "",
        table(
          ["stage", "taken", "CPU ms per pair"],
          st.rows.map((x) => [x.stage, x.used ? "yes" : "not taken", f(x.cpuMs, 2)]),
        ),
        "",
      );
      const used = st.rows.filter((x) => x.used).reduce((a, x) => a + x.cpuMs, 0);
      if (ov512)
        out.push(
          `The stages taken sum to ${f(used, 2)} ms of the ${f(ov512.cpuMsPerPair, 2)} ms measured end to end.`,
          "",
        );
    }
  }

  if (r.baseline) {
    out.push(
      `## Side by side with the reference release's approach (${r.baseline.rows[0]?.pairs ?? "?"} pairs of ${r.baseline.imageSize}x${r.baseline.imageSize} PNGs, server latency ${r.baseline.latencyMs} ms, each run twice)`,
      "",
    );
    out.push(
      "Reference-style: bench/baseline/reference_style_judge.py (Python asyncio + openai-python in bench/.venv-baseline; one AsyncOpenAI client; images as base64 of the raw file, no resizing; no cache). Pass 2 repeats the same pairs (a rerun or resumed evaluation). Calls and bytes are counted by the server; bytes are request bodies.",
      "",
    );
    out.push(
      table(
        ["who", "setup", "pass", "calls", "request MB", "wall s", "errors"],
        r.baseline.rows.map((x) => [
          x.who,
          x.setup,
          x.pass,
          x.calls,
          mb(x.bodyBytes),
          f(x.wallS, 2),
          Object.keys(x.errors).length
            ? Object.entries(x.errors)
                .map(([k, v]) => `${v}× ${k}`)
                .join("; ")
            : "0",
        ]),
      ),
      "",
    );
  }

  if (r.baseline) {
    const failed = r.baseline.rows.filter((x) => x.who === "reference-style" && Object.keys(x.errors).length);
    for (const x of failed) {
      const n = Object.values(x.errors).reduce((a, b) => a + b, 0);
      out.push(
        `- ${x.setup}, pass ${x.pass}: ${n} of ${x.pairs} pairs raised (${Object.keys(x.errors).join("; ")}) although the server answered every call: the one AsyncOpenAI client outlives the event loop of the previous pair (reference defect 13). In the reference this exception ends the training rank; here it is counted and the loop goes on, so that row's wall time is not a clean run.`,
      );
    }
    out.push(
      "- Our cache keys on the hash of the original bytes; a cache hit does not decode, resize or re-encode the images (src/judge/judge.ts encodes lazily, only on a miss; changed with these benchmarks after a fully cached max_side-512 pass was measured costing about half as much as the first), which is why pass 2 costs well under a second at any max_side.",
      "",
    );
  }

  if (r.bridge) {
    const b = r.bridge;
    out.push("## Python bridge (pythonia facade)", "");
    out.push(
      table(
        ["what", "ms"],
        [
          ["start Python + import the facade", f(b.startMs, 0)],
          [
            `ping, sequential (median / p90 of ${b.pingMs.n})`,
            `${f(b.pingMs.median, 3)} / ${f(b.pingMs.p90, 3)}`,
          ],
          ["ping, 200 issued at once (per call)", f(b.pipelinedMsPerCall, 3)],
          [`512x512 PNG by path (call with the path string)`, f(b.byPathMs, 3)],
          [
            `512x512 PNG by value, one way (read + base64 ${mb(b.base64Bytes)} MB into the call)`,
            f(b.byValueOneWayMs, 2),
          ],
          ["512x512 PNG by value, there and back (echoed)", f(b.byValueRoundTripMs, 2)],
          ["Python then reads the file (by path)", f(b.pythonReadFileMs, 3)],
          ["Python then decodes the base64 (by value)", f(b.pythonB64DecodeMs, 3)],
        ],
      ),
      "",
    );
  }

  out.push("## Training step split (tiny FLUX, 2 workers, torchrun gloo on CPU)", "");
  if (r.train && "rows" in r.train) {
    out.push(
      `tiny-cpu preset (64x64, 8 steps, 2 candidates, 1 prompt per worker, KL on), ${r.train.steps} updates per run, the first dropped as warm-up. The judge is a stand-in that answers after a fixed delay. Depth = train.pipeline.depth (1: the next step is sampled while the judge scores this one, which then trains on log-probs one update old). Seconds per update, averaged over ranks; idle = wall time between updates minus the timed parts (metrics, control polling, process sync). Hidden = 1 - judge wait / judge latency; staleness = updates between a batch's sampling and its update; clip = PPO clip fraction.`,
      "",
    );
    const [before, after] = r.load.train ?? [0, 0];
    const cores = Number(r.machine.cores) || 1;
    if (Math.max(before, after) > cores) {
      out.push(
        `Measured while the machine was busy with other work (load ${f(before, 1)}→${f(after, 1)} on ${cores} cores): every wall time is inflated, and the judge latencies follow the inflated sampling time; compare the rows of this table with each other, not with other runs.`,
        "",
      );
    }
    out.push(
      table(
        [
          "judge latency",
          "x sampling",
          "depth",
          "wall s",
          "sampling",
          "decode",
          "reference",
          "judge wait",
          "update",
          "idle",
          "wait share",
          "hidden",
          "staleness",
          "clip",
        ],
        r.train.rows.map((x) => [
          `${x.judgeLatencyMs} ms`,
          f(x.multiple, 1),
          String(x.depth ?? 0),
          f(x.wallS, 2),
          f(x.samplingS, 3),
          f(x.decodeS, 3),
          f(x.referenceS, 3),
          f(x.judgeWaitS, 3),
          f(x.updateS, 3),
          f(x.idleS, 3),
          pct(x.judgeWaitShare),
          x.hidden == null ? "—" : pct(x.hidden),
          x.staleness == null ? "—" : f(x.staleness, 2),
          x.clipFrac == null ? "—" : pct(x.clipFrac),
        ]),
      ),
      "",
    );
  } else if (r.train) {
    out.push(`Not measured: training did not run end to end (${r.train.error}).`, "");
  } else {
    out.push("Not measured in this run.", "");
  }

  if (r.parquet) out.push(...renderParquet(r.parquet, table));

  out.push("## GPU (one H200)", "");
  out.push(
    "**Not run yet.** No GPU was available to the session that wrote these benchmarks, so there are no GPU figures. `bench/gpu/run.sh` is ready (FLUX.1-dev and Qwen-Image transformers at their published configurations with random bf16 weights, LoRA r16/r32, gradient checkpointing, 512 and 1024 px, 8 and 10 steps; sampling s/candidate, training s/step, peak memory, achieved TFLOP/s against the measured bf16 matmul rate). Its logic was checked on CPU with `--tiny` only. See bench/gpu/README.md.",
    "",
  );
  return `${out.join("\n")}\n`;
}
