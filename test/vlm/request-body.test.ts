import { randomBytes } from "node:crypto";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { ImageEncodingSchema } from "../../src/config/schema.js";
import { prepareImage } from "../../src/vlm/images.js";
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

  it("writes inline image parts as image_url data URLs, base64 sliced across any length", () => {
    // Lengths around the 48 KB slice and off multiples of 3: slices must join into one valid encoding.
    for (const length of [1, 2, 3, 49151, 49152, 49153, 3 * 49152 + 2]) {
      const data = randomBytes(length);
      const inline = {
        model: "m",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "Image 1:" },
              { type: "image", mime: "image/webp", data },
              { type: "image", mime: "image/png", data: data.subarray(1) },
            ],
          },
        ],
      };
      const asUrls = {
        model: "m",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "Image 1:" },
              { type: "image_url", image_url: { url: `data:image/webp;base64,${data.toString("base64")}` } },
              {
                type: "image_url",
                image_url: { url: `data:image/png;base64,${data.subarray(1).toString("base64")}` },
              },
            ],
          },
        ],
      };
      expect(encodeRequestBody(inline).toString("utf8")).toBe(JSON.stringify(asUrls));
    }
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

  it("writes images from prepareImage (spliced from their parts) as the same JSON, 11 of them", async () => {
    // Eleven distinct images above the splice threshold: marker 1 must not be confused with marker 10.
    const images = await Promise.all(
      Array.from({ length: 11 }, async (_, i) => {
        const png = await sharp({
          create: { width: 40 + i, height: 30, channels: 3, background: { r: 20 * i, g: 7, b: 200 - i } },
        })
          .png({ compressionLevel: 0 })
          .toBuffer();
        return prepareImage(png, ImageEncodingSchema.parse({}));
      }),
    );
    const content = images.flatMap((img, i) => [
      { type: "text", text: `Image ${i + 1} ✓` },
      { type: "image_url", image_url: { url: img.url } },
    ]);
    const body = { model: "m", messages: [{ role: "user", content }] };
    for (const img of images) expect(img.url.length).toBeGreaterThan(1024);
    expect(encodeRequestBody(body).toString("utf8")).toBe(JSON.stringify(body));
  });
});
