import { ensureBaselineVenv, sideBySide } from "./baseline.js";
import { writePhotoLike } from "./lib/images.js";
import { startServerProcess } from "./lib/server-process.js";
const s = await startServerProcess();
const env = await ensureBaselineVenv(console.error);
const imgs = await writePhotoLike("/tmp/h9-img", 1024, 8, 7);
try { for (const r of await sideBySide(s, env, imgs, 16, 200)) console.log(JSON.stringify(r)); } finally { await s.close(); }
