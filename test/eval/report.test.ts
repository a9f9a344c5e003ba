import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/benchmarks/index.js";
import { compare } from "../../src/eval/compare.js";
import { writeEvalOutputs } from "../../src/eval/report.js";
import type { EvalJudge } from "../../src/eval/types.js";
import { launchChromium, openPage } from "../support/browser.js";
import { fakeVerdict } from "../support/verdicts.js";

const FIX = resolve(import.meta.dirname, "../fixtures/eval");

const PREFERRED = ["red.png", "blue.png", "green.png"];

/** Picks the human-preferred image, except that `biased` prompts always get "Image 1". */
function judge(biased: RegExp | null): EvalJudge {
  return {
    async compare(input) {
      const firstPreferred = PREFERRED.some((p) => String(input.candidates[0]).endsWith(p));
      const ranking = (biased?.test(input.prompt) ?? false) || firstPreferred ? [1, 2] : [2, 1];
      return fakeVerdict({
        outcome: "decided",
        ranking,
        reason: "<script>alert(1)</script> because",
        cached: true,
      });
    },
  };
}

describe("report", () => {
  it("opens in headless Chromium with one card per item, a working filter and no console errors", async () => {
    const { pairs } = await loadDataset(join(FIX, "hpdv3-test.json"), "hpdv3");
    const cmp = await compare({
      pairs,
      variants: [
        { name: "direct", judge: judge(/blue/) },
        { name: "+ARR", judge: judge(null) },
      ],
      bootstrap: { resamples: 50 },
    });
    const out = await mkdtemp(join(tmpdir(), "arr-report-"));
    const written = await writeEvalOutputs(out, {
      results: cmp.rows.map((r) => r.result),
      comparison: cmp,
      rubrics: {
        direct: null,
        "+ARR": { file: "rubric.json", text: "1. <b>sharp</b> edges", hash: "abc123" },
      },
      dataset: { file: "hpdv3-test.json", format: "hpdv3" },
    });
    const html = await readFile(written.html, "utf8");
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("a &lt;b&gt;blue&lt;/b&gt; sky &amp; &quot;sea&quot;");
    expect(html).toMatch(/src="data:image\/jpeg;base64,/);
    expect((await readFile(written.verdicts, "utf8")).trim().split("\n")).toHaveLength(2 * 2 * pairs.length);
    const results = JSON.parse(await readFile(written.results, "utf8"));
    expect(results.variants.map((v: { variant: string }) => v.variant)).toEqual(["direct", "+ARR"]);

    const browser = await launchChromium();
    try {
      const { page, problems } = await openPage(browser, written.html);
      const cards = page.locator(".card");
      expect(await cards.count()).toBe(pairs.length);
      expect(await page.locator(".card img").count()).toBe(2 * pairs.length);
      // Only the "blue" item is judged by position under "direct": it alone disagrees and flips.
      await page.selectOption("#filter", "disagree");
      expect(await page.locator(".card:visible").count()).toBe(1);
      expect(await page.textContent("#shown")).toBe("1");
      expect(await page.locator(".card:visible .prompt").textContent()).toBe('a <b>blue</b> sky & "sea"');
      await page.selectOption("#filter", "flip");
      expect(await page.locator(".card:visible").count()).toBe(1);
      await page.selectOption("#filter", "all");
      expect(await page.locator(".card:visible").count()).toBe(pairs.length);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
