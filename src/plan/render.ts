/**
 * `arr plan`'s text report (pure: a Plan in, lines out).
 */
import type { Plan } from "./plan.js";

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
const tflop = (flops: number) => `${(flops / 1e12).toFixed(flops < 1e13 ? 2 : 1)} TFLOP`;

/** 11.9 B, 18.9 M, 83.8 M, 1,234. */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return n.toLocaleString("en");
}

/** 0.42 s, 3.2 min, 5.1 h. */
export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}

function money(x: number | null): string {
  if (x === null) return "unknown";
  return x < 0.01 && x > 0 ? `$${x.toPrecision(2)}` : `$${x.toFixed(2)}`;
}

function targetList(targets: string[]): string {
  return targets.length <= 4
    ? targets.join(", ")
    : `${targets.slice(0, 4).join(", ")} +${targets.length - 4} more`;
}

function table(rows: string[][], indent = "  "): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) =>
    (indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).trimEnd(),
  );
}

export function renderPlan(p: Plan): string {
  const out: string[] = [];
  const mem = p.memory;
  out.push(
    `arr plan: ${p.model.family} (${p.model.path}) on ${p.world} x ${p.gpu.label}, ${mem.strategy}`,
    `component configs: ${p.model.configsFrom}`,
    "",
    "Parameters (each component built from its config on the meta device)",
  );
  const lora = p.parameters.lora;
  out.push(
    ...table([
      ...p.parameters.components.map((c) => [c.label, c.className, formatCount(c.params)]),
      [
        `LoRA r${lora.rank} (${lora.layers} layers: ${targetList(lora.targets)})`,
        "peft",
        formatCount(lora.params),
      ],
    ]),
  );
  const s = p.sequence;
  out.push(
    "",
    `Sequence per forward (batch 1): ${s.image} image${s.condition ? ` + ${s.condition} source` : ""} + ${s.text} text = ${s.total} tokens (${s.textNote})`,
    "",
    `Memory per GPU (${mem.weightBytes === 2 ? "bf16" : "fp32"} weights, ${mem.strategy}, ${p.world} processes)`,
  );
  out.push(
    ...table([
      ["phase", "item", "size", "formula"],
      ...mem.items.map((i) => [i.phase, i.item, gb(i.bytes), i.formula]),
    ]),
  );
  const v = mem.verdict;
  const share = ((100 * v.totalBytes) / v.capacityBytes).toFixed(0);
  out.push(
    `  peak = persistent ${gb(mem.persistent)} + ${mem.peakPhase} ${gb(mem.transient)} + overhead = ${gb(v.totalBytes)} of ${gb(v.capacityBytes)} (${share}%)`,
    v.fits
      ? `  verdict: fits${v.tight ? `, but tightly (over ${90}% of the GPU)` : ""}`
      : "  verdict: does NOT fit",
  );
  for (const why of v.why) out.push(`    - ${why}`);
  if (v.remedies.length > 0) {
    out.push("  what to change:");
    for (const r of v.remedies) {
      out.push(
        `    - ${r.change}: ${gb(r.totalBytes)} -> ${r.fits ? "fits" : "still too big"}${r.set ? `  (${r.set})` : ""}${r.note ? `; ${r.note}` : ""}`,
      );
    }
  }

  const t = p.time;
  const u = t.update;
  const f = p.flops;
  out.push(
    "",
    `Time per update (one GPU; ${(t.efficiency.sampling * 100).toFixed(0)}% sampling / ${(t.efficiency.training * 100).toFixed(0)}% training of ${(p.gpu.bf16Flops / 1e12).toFixed(0)} TFLOP/s bf16: ${t.efficiency.note})`,
    `  one forward: ${tflop(f.forward.total)} (linear ${tflop(f.forward.linear)}, attention ${tflop(f.forward.attention)}, LoRA ${tflop(f.forward.lora)})`,
    `  one trained transition: ${tflop(f.transition.total)} = reference ${tflop(f.transition.reference)} + forward ${tflop(f.transition.forward)} + recompute ${tflop(f.transition.recompute)} + backward ${tflop(f.transition.backward)}`,
    `  per update: ${u.rolloutSteps} rollout steps, ${u.prompts} prompts x ${u.samples / u.prompts} candidates = ${u.samples} samples; ${u.steps} denoising steps and ${u.trainedSteps} trained transitions each`,
  );
  out.push(
    ...table([
      ["stage", "passes", "work", "time"],
      [
        "text encoding",
        `${u.prompts} prompts`,
        tflop(u.flops.textEncoding),
        formatDuration(u.seconds.textEncoding),
      ],
      [
        "sampling",
        `${u.forwards.sampling} forwards`,
        tflop(u.flops.sampling),
        formatDuration(u.seconds.sampling),
      ],
      [
        "reference",
        `${u.forwards.reference} forwards`,
        tflop(u.flops.reference),
        formatDuration(u.seconds.reference),
      ],
      [
        "training",
        `${u.forwards.training} transitions`,
        tflop(u.flops.training),
        formatDuration(u.seconds.training),
      ],
      ["update", "", tflop(u.flops.total), formatDuration(u.seconds.total)],
    ]),
    `  run: ${t.updates} updates x ${formatDuration(u.seconds.total)} = ${formatDuration(t.runSeconds)} (judge waits and communication not included)`,
  );

  const j = p.judge;
  out.push(
    "",
    `Judge (${j.model ?? "none"}${j.processorFile ? `; image processor ${j.processorFile}` : ""})`,
    `  calls per update: ${j.callsPerUpdate / j.orders} prompts x ${j.orders} order${j.orders > 1 ? "s" : ""} = ${j.callsPerUpdate}, ${j.imagesPerCall} images each`,
  );
  if (j.imageTokensPerImage !== null) {
    out.push(
      `  image tokens: ${j.imageTokensPerImage} per candidate${j.sourceImageTokens !== null ? `, ${j.sourceImageTokens} for the source` : ""} (+2 delimiters each); text ~${j.textTokensPerCall} tokens`,
    );
  }
  if (j.perCall && j.perUpdate && j.perRun) {
    out.push(
      `  tokens per call: ${j.perCall.prompt.toLocaleString("en")} prompt + ~${j.perCall.completion} completion`,
      `  per update: ${j.perUpdate.prompt.toLocaleString("en")} + ${j.perUpdate.completion.toLocaleString("en")} tokens, ${money(j.costPerUpdate)}; per run: ${formatCount(j.perRun.prompt)} + ${formatCount(j.perRun.completion)} tokens, ${money(j.costPerRun)}`,
    );
  }
  const n = j.needed;
  out.push(
    `  to keep its wait under 10% of an update (${formatDuration(n.budgetSeconds)}): ${n.callsPerSecond.toFixed(1)} calls/s${
      n.promptTokensPerSecond !== null
        ? `, ${formatCount(Math.ceil(n.promptTokensPerSecond))} prompt tokens/s`
        : ""
    }`,
  );
  for (const note of j.notes) out.push(`  note: ${note}`);
  for (const w of p.warnings) out.push("", `warning: ${w}`);
  return `${out.join("\n")}\n`;
}
