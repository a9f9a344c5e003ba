import { readFileSync } from "node:fs";
import { request, Agent } from "node:http";
import { startServerProcess } from "./lib/server-process.js";
const s = await startServerProcess();
const b64 = readFileSync("/tmp/h9-img/img-512-0.png").toString("base64");
const body = { model: "bench", messages: [{ role: "user", content: [{ type: "text", text: "Image 1:" }, { type: "image_url", image_url: { url: `data:image/png;base64,${b64}` } }, { type: "text", text: "Image 2:" }, { type: "image_url", image_url: { url: `data:image/png;base64,${b64}x` } }, { type: "text", text: "rank" }] }] };
async function time(label: string, n: number, fn: () => Promise<unknown>) {
  await fn(); const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  console.log(label, ((performance.now() - t0) / n).toFixed(1), "ms wall", ((c.user + c.system) / 1000 / n).toFixed(1), "ms cpu");
}
const agent = new Agent({ keepAlive: true });
const u = new URL(`${s.url}/chat/completions`);
const httpPost = (text: string) => new Promise<unknown>((resolve, reject) => {
  const buf = Buffer.from(text);
  const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", agent, headers: { "content-type": "application/json", "content-length": buf.length } }, (res) => {
    const chunks: Buffer[] = []; res.on("data", (c) => chunks.push(c)); res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
  });
  req.on("error", reject); req.end(buf);
});
for (let k = 0; k < 2; k++) {
await time("stringify", 20, async () => JSON.stringify(body));
await time("b64", 20, async () => readFileSync("/tmp/h9-img/img-512-0.png").toString("base64"));
await time("http", 20, async () => httpPost(JSON.stringify(body)));
await time("fetch", 20, async () => (await fetch(`${s.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json());
await time("fetch-buf", 20, async () => (await fetch(`${s.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.from(JSON.stringify(body)) })).json());
}
await s.close();
