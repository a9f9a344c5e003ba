/**
 * Samples uploaded by the workers of nodes that do not share node 0's run directory
 * (`PUT /v1/samples/<name>`): the judge on node 0 reads its own copy, kept under the run directory
 * (so the image rules of judged-images.ts hold), and the worker deletes it (`DELETE`) when it prunes
 * its local one. Names are plain file names the workers choose (`r1-o3-p0-c1.png`): no path.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { readBytes, send } from "./service-http.js";

/** The largest sample the service accepts (a 2048 x 2048 RGB PNG is at most about 12 MiB). */
export const MAX_SAMPLE_BYTES = 32 << 20;

const SAMPLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.png$/;

/** Handles `PUT`/`DELETE /v1/samples/<name>` into `dir`; false when the request is another route. */
export async function handleSampleUpload(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  dir: string,
): Promise<boolean> {
  const match = /^\/v1\/samples\/([^/]+)$/.exec(pathname);
  if (!match?.[1] || (req.method !== "PUT" && req.method !== "DELETE")) return false;
  const name = decodeURIComponent(match[1]);
  if (!SAMPLE_NAME.test(name)) {
    send(res, 400, {
      error: `sample name ${JSON.stringify(name)}: expected a plain file name ending in .png`,
    });
    return true;
  }
  const path = join(dir, name);
  if (req.method === "DELETE") {
    await rm(path, { force: true });
    send(res, 204);
    return true;
  }
  const bytes = await readBytes(req, MAX_SAMPLE_BYTES);
  await mkdir(dir, { recursive: true });
  await writeFile(path, bytes);
  send(res, 201, { path });
  return true;
}
