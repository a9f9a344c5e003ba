import { describe, expect, it } from "vitest";
import { escapeHtml } from "../../src/util/html.js";

describe("escapeHtml", () => {
  it("escapes dataset text for element content and attributes", () => {
    expect(escapeHtml(`<img src=x onerror="a">&'`)).toBe("&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;");
  });

  it("renders null and undefined as empty text", () => {
    expect(escapeHtml(null)).toBe("");
    expect(escapeHtml(undefined)).toBe("");
    expect(escapeHtml(3)).toBe("3");
  });
});
