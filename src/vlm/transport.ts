/**
 * The HTTP transport under the openai SDK: a `fetch` built on undici's `request()` instead of Node's
 * global fetch. A judge request carries about 1 MB of base64 per 512x512 pair, and the global fetch
 * pushes it through WHATWG streams on the way out and back: about 4 ms of client CPU per request,
 * against about 1.3 ms through `request()` with the same body and server (bench/RESULTS.md). That
 * difference is most of the judge's per-pair overhead and caps throughput on one event loop.
 *
 * The SDK keeps everything it owns (headers, retries, backoff, timeouts via the abort signal, typed
 * errors): it only sees a standard `Response`, built from the buffered reply. Bodies other than
 * strings and bytes (streams, forms), which the judge never sends, go to the global fetch.
 */
import { type Dispatcher, request } from "undici";

/** Statuses whose Response must have no body (the Response constructor rejects one). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

function responseHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.append(name, value);
  }
  return headers;
}

/**
 * A `fetch` for the openai SDK's `fetch` option, over undici's `request()` and its global
 * dispatcher (keep-alive, no connection cap; the same one Node's fetch uses).
 */
export function createTransport(): typeof fetch {
  const transport = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const body = init.body;
    const plain = body == null || typeof body === "string" || body instanceof Uint8Array;
    if (!plain || input instanceof Request) return fetch(input, init);
    const res = await request(input, {
      method: (init.method ?? "GET") as Dispatcher.HttpMethod,
      // undici takes any iterable of [name, value] pairs, which is what the SDK passes (a Headers).
      headers: init.headers instanceof Headers ? init.headers : Object.fromEntries(new Headers(init.headers)),
      body: body ?? null,
      signal: init.signal ?? null,
    });
    const data = await res.body.arrayBuffer();
    return new Response(NULL_BODY_STATUS.has(res.statusCode) ? null : data, {
      status: res.statusCode,
      headers: responseHeaders(res.headers),
    });
  };
  return transport as typeof fetch;
}
