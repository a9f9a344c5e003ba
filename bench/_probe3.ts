import OpenAI from "openai";
import { readFileSync } from "node:fs";
import { startServerProcess } from "./lib/server-process.js";
import { startFixedServer } from "./lib/fixed-server.js";
const s = await startServerProcess();
const b64 = readFileSync("/tmp/h9-img/img-512-0.png").toString("base64");
const body = { model: "bench", messages: [{ role: "user", content: [{ type: "text", text: "Image 1:" }, { type: "image_url", image_url: { url: `data:image/png;base64,${b64}` } }, { type: "text", text: "Image 2:" }, { type: "image_url", image_url: { url: `data:image/png;base64,${b64}x` } }, { type: "text", text: "rank" }] }] };
async function time(label: string, n: number, fn: () => Promise<unknown>) {
  await fn(); const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  console.log(label, ((performance.now() - t0) / n).toFixed(1), "ms wall", ((c.user + c.system) / 1000 / n).toFixed(1), "ms cpu");
}
await time("stringify", 20, async () => JSON.stringify(body));
await time("fetch", 20, async () => (await fetch(`${s.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json());
const sdk = new OpenAI({ apiKey: "x", baseURL: s.url, maxRetries: 0 });
await time("sdk", 20, async () => sdk.chat.completions.create(body as never));
const inproc = await startFixedServer();
await time("fetch-inproc", 20, async () => (await fetch(`${inproc.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json());
const sdk2 = new OpenAI({ apiKey: "x", baseURL: inproc.url, maxRetries: 0 });
await time("sdk-inproc", 20, async () => sdk2.chat.completions.create(body as never));
await inproc.close(); await s.close();
