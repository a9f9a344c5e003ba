import { readFileSync } from "node:fs";
import sharp from "sharp";
const src = readFileSync("/tmp/h9-img/img-1024-0.png");
for (const [label, opts] of [["default", {}], ["adaptive", { adaptiveFiltering: true }], ["adaptive-l3", { adaptiveFiltering: true, compressionLevel: 3 }], ["adaptive-l1", { adaptiveFiltering: true, compressionLevel: 1 }], ["l1", { compressionLevel: 1 }]] as const) {
  let bytes = 0; const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < 10; i++) bytes = (await sharp(src).rotate().resize({ width: 512, height: 512, fit: "inside", withoutEnlargement: true }).png(opts).toBuffer()).length;
  const c = process.cpuUsage(c0);
  console.log(label, bytes, ((performance.now() - t0) / 10).toFixed(1), "ms wall", ((c.user + c.system) / 10000).toFixed(1), "ms cpu");
}
const s512 = readFileSync("/tmp/h9-img/img-512-0.png");
for (const q of [90]) { const c0 = process.cpuUsage(); let b=0; for (let i = 0; i < 10; i++) b=(await sharp(s512).rotate().jpeg({ quality: q }).toBuffer()).length; const c = process.cpuUsage(c0); console.log("jpeg512", b, ((c.user + c.system) / 10000).toFixed(1)); }
{ const c0 = process.cpuUsage(); for (let i = 0; i < 10; i++) await sharp(s512).metadata(); const c = process.cpuUsage(c0); console.log("metadata", ((c.user + c.system) / 10000).toFixed(2)); }
