import { describe, expect, it } from "vitest";
import { encodeRequestBody } from "../../src/vlm/request-body.js";

const bigDataUrl = (seed: number) => `data:image/png;base64,${Buffer.alloc(3000, seed).toString("base64")}`;

describe("encodeRequestBody", () => {
  it("produces exactly the JSON of the body, data URLs spliced in", () => {
    const body = {
      model: "m",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: 'Image 1: "quoted" \\ back\nslash ✓ 图' },
            { type: "image_url", image_url: { url: bigDataUrl(1) } },
            { type: "text", text: "Image 2:" },
            { type: "image_url", image_url: { url: bigDataUrl(2) } },
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
          ],
        },
      ],
      temperature: 0,
    };
    const encoded = encodeRequestBody(body);
    expect(encoded.toString("utf8")).toBe(JSON.stringify(body));
    expect(JSON.parse(encoded.toString("utf8"))).toEqual(body);
  });

  it("leaves a body without images to JSON.stringify", () => {
    const body = { model: "m", messages: [{ role: "user", content: "hello" }] };
    expect(encodeRequestBody(body).toString("utf8")).toBe(JSON.stringify(body));
  });

  it("never splices a text field that merely looks like a data URL", () => {
    const text = bigDataUrl(3);
    const body = { messages: [{ role: "user", content: [{ type: "text", text }] }] };
    expect(JSON.parse(encodeRequestBody(body).toString("utf8"))).toEqual(body);
  });
});
