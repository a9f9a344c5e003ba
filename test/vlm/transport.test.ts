import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTransport } from "../../src/vlm/transport.js";

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

let server: Server;
let base: string;
const routes = new Map<string, Handler>();

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    routes.get(req.url ?? "")?.(req, Buffer.concat(chunks), res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("createTransport", () => {
  const transport = createTransport();

  it("sends the body bytes and headers exactly and returns a standard Response", async () => {
    const body = randomBytes(3 * 1024 * 1024 + 7);
    routes.set("/echo", (req, got, res) => {
      res.writeHead(201, { "content-type": "application/json", "x-request-id": "req-1" });
      res.end(
        JSON.stringify({
          bytes: got.length,
          same: got.equals(body),
          auth: req.headers.authorization,
          method: req.method,
        }),
      );
    });
    const headers = new Headers({ authorization: "Bearer k", "content-type": "application/octet-stream" });
    const res = await transport(`${base}/echo`, { method: "POST", headers, body });
    expect(res).toBeInstanceOf(Response);
    expect([res.status, res.ok, res.headers.get("x-request-id")]).toEqual([201, true, "req-1"]);
    expect(await res.json()).toEqual({ bytes: body.length, same: true, auth: "Bearer k", method: "POST" });
  });

  it("passes error statuses through as responses and gives a 204 no body", async () => {
    routes.set("/busy", (_req, _body, res) => {
      res.writeHead(503, { "retry-after": "2" });
      res.end("overloaded");
    });
    routes.set("/empty", (_req, _body, res) => {
      res.writeHead(204);
      res.end();
    });
    const busy = await transport(`${base}/busy`, { method: "POST", body: "{}" });
    expect([busy.status, busy.ok, busy.headers.get("retry-after"), await busy.text()]).toEqual([
      503,
      false,
      "2",
      "overloaded",
    ]);
    const empty = await transport(new URL(`${base}/empty`));
    expect([empty.status, empty.body]).toEqual([204, null]);
  });

  it("rejects with an AbortError when the signal fires (how the SDK times a request out)", async () => {
    routes.set("/hang", () => {});
    const controller = new AbortController();
    const pending = transport(`${base}/hang`, { method: "POST", body: "{}", signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });

  it("rejects, never hangs, when the server drops the connection", async () => {
    routes.set("/drop", (req) => req.socket.destroy());
    await expect(transport(`${base}/drop`, { method: "POST", body: "{}" })).rejects.toThrow();
  });
});
