import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  imageTokens,
  roundHalfEven,
  smartResize,
  VisionProcessorSchema,
  visionProcessor,
} from "../../src/plan/vision-tokens.js";
import { packageRoot } from "../../src/runtime/python.js";
import { torchReference } from "./support/reference.js";

const models = join(packageRoot(), "configs", "models");
const qwen3Dir = join(models, "qwen3-vl-8b-instruct");
const qwen25Dir = join(models, "qwen-image-edit-2509", "processor");
const load = (dir: string) =>
  visionProcessor(
    VisionProcessorSchema.parse(JSON.parse(readFileSync(join(dir, "preprocessor_config.json"), "utf8"))),
  );

// 512^2 (the presets), non-square, a Python half-even tie (2000 / 32 = 62.5), below min_pixels, above max_pixels
const SIZES: [number, number][] = [
  [512, 512],
  [1024, 768],
  [300, 2000],
  [20, 20],
  [5000, 7000],
  [384, 384],
];

describe("Qwen-VL image tokens", () => {
  it("reads Qwen3-VL's size.shortest_edge/longest_edge and Qwen2.5-VL's min/max_pixels", () => {
    expect(load(qwen3Dir)).toEqual({ patch: 16, merge: 2, minPixels: 65_536, maxPixels: 16_777_216 });
    expect(load(qwen25Dir)).toEqual({ patch: 14, merge: 2, minPixels: 3136, maxPixels: 12_845_056 });
  });

  it("rounds halves to even like Python", () => {
    expect([0.5, 1.5, 2.5, 62.5, -0.5, 3.4].map(roundHalfEven)).toEqual([0, 2, 2, 62, -0, 3]);
  });

  it("a 512x512 image is 256 Qwen3-VL tokens: a 32 x 32 patch grid merged 2 x 2", () => {
    expect(imageTokens(512, 512, load(qwen3Dir))).toBe(256);
  });

  it("equals the grid transformers' Qwen-VL image processor computes from the shipped configs", async () => {
    const [q3, q25] = [load(qwen3Dir), load(qwen25Dir)];
    const ref = await torchReference<{ grids: number[][][] }>({
      processor_dirs: [qwen3Dir, qwen25Dir],
      grids: SIZES,
    });
    const [grid3, grid25] = ref.grids as [number[][], number[][]];
    SIZES.forEach(([h, w], i) => {
      const [t, gh, gw] = grid3[i] as [number, number, number];
      expect(smartResize(h, w, q3)).toEqual([gh * q3.patch, gw * q3.patch]);
      expect(imageTokens(h, w, q3)).toBe((t * gh * gw) / 4);
      const [t25, gh25, gw25] = grid25[i] as [number, number, number];
      expect(imageTokens(h, w, q25)).toBe((t25 * gh25 * gw25) / 4);
    });
  }, 600_000);
});
