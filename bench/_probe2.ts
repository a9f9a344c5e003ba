import { overhead, throughput } from "./judge.js";
import { writePhotoLike } from "./lib/images.js";
import { startServerProcess } from "./lib/server-process.js";
const s = await startServerProcess();
const i512 = await writePhotoLike("/tmp/h9-img", 512, 8);
const i1024 = await writePhotoLike("/tmp/h9-img", 1024, 2);
try {
  console.log(await overhead(s, i512, 512, "default", {}, 40));
  console.log(await overhead(s, i1024, 1024, "default", {}, 20));
  console.log(await overhead(s, i1024, 1024, "max512", { max_side: 512 }, 20));
  console.log(await overhead(s, i512, 512, "jpeg", { format: "jpeg" }, 20));
  console.log(await throughput(s, i512, 200, 32, 320));
  console.log(await throughput(s, i512, 1000, 32, 128));
} finally { await s.close(); }
