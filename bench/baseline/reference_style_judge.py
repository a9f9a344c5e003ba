"""Judge pairs the way the reference release does, for a side-by-side benchmark.

Written from the behaviour described in our notes (paper-and-reference.md §3.5, §3.11), not copied:

* images go on one user message, each after a text label, images first and the prompt text last;
* a local file is sent as base64 of its raw bytes in a data URL (MIME from the extension): no
  resizing, no re-encoding, no size limit;
* one ``AsyncOpenAI`` client is created once and reused;
* ``--mode per-pair`` (training): every pair is one blocking ``asyncio.run(...)``, i.e. a fresh event
  loop per pair, one pair after another (each rank judges its own pair and waits);
* ``--mode batch`` (batch evaluation): one event loop, a semaphore of 50 around the calls;
* no cache, no application-level retry (the SDK's default 2 retries apply).

Reads a JSON file ``{"base_url", "model", "pairs": [{"prompt", "images": [paths]}]}`` and writes
a JSON summary to stdout: calls, errors (type counts), wall seconds, per-call latency.
With ``--urllib`` it uses the standard library instead of openai-python (the fallback when the SDK
cannot be installed), keeping the same per-pair event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import mimetypes
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any


def data_url(path: str) -> str:
    mime = mimetypes.guess_type(path)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def messages(prompt: str, images: list[str]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for i, img in enumerate(images):
        content.append({"type": "text", "text": f"Image {i + 1}:"})
        content.append({"type": "image_url", "image_url": {"url": data_url(img)}})
    content.append(
        {
            "type": "text",
            "text": f"Rank the {len(images)} images for the prompt: {prompt}\n"
            'Answer as JSON: {"rank": [...], "reason": "..."}',
        }
    )
    return [{"role": "user", "content": content}]


def parse_rank(text: str) -> list[int]:
    obj = json.loads(text)
    return [int(r) for r in obj.get("rank", [])]


def run_sdk(spec: dict[str, Any], mode: str) -> dict[str, Any]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=spec["base_url"], api_key="EMPTY")
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def judge(pair: dict[str, Any]) -> list[int]:
        t0 = time.perf_counter()
        res = await client.chat.completions.create(
            model=spec["model"],
            messages=messages(pair["prompt"], pair["images"]),  # type: ignore[arg-type]
            temperature=0,
            response_format={"type": "json_object"},
        )
        latencies.append(time.perf_counter() - t0)
        return parse_rank(res.choices[0].message.content or "{}")

    t0 = time.perf_counter()
    if mode == "per-pair":
        for pair in spec["pairs"]:
            try:
                asyncio.run(judge(pair))
            except Exception as exc:  # noqa: BLE001 - counted: the reference would crash the rank here
                errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
    else:

        async def batch() -> None:
            sem = asyncio.Semaphore(50)

            async def one(pair: dict[str, Any]) -> None:
                async with sem:
                    try:
                        await judge(pair)
                    except Exception as exc:  # noqa: BLE001
                        errors[type(exc).__name__] += 1

            await asyncio.gather(*(one(p) for p in spec["pairs"]))

        asyncio.run(batch())
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "calls": len(latencies), "errors": dict(errors), "latencies": latencies}


def run_urllib(spec: dict[str, Any], mode: str) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    url = spec["base_url"].rstrip("/") + "/chat/completions"

    def post(pair: dict[str, Any]) -> list[int]:
        body = json.dumps(
            {
                "model": spec["model"],
                "messages": messages(pair["prompt"], pair["images"]),
                "temperature": 0,
                "response_format": {"type": "json_object"},
            }
        ).encode()
        req = urllib.request.Request(url, body, {"content-type": "application/json", "authorization": "Bearer EMPTY"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=600) as r:
            reply = json.loads(r.read())
        latencies.append(time.perf_counter() - t0)
        return parse_rank(reply["choices"][0]["message"]["content"])

    async def judge(pair: dict[str, Any]) -> list[int]:
        return await asyncio.to_thread(post, pair)

    t0 = time.perf_counter()
    for pair in spec["pairs"]:
        try:
            asyncio.run(judge(pair))
        except Exception as exc:  # noqa: BLE001
            errors[type(exc).__name__] += 1
    return {"wall_s": time.perf_counter() - t0, "calls": len(latencies), "errors": dict(errors), "latencies": latencies}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spec", help="JSON file: base_url, model, pairs")
    ap.add_argument("--mode", choices=["per-pair", "batch"], default="per-pair")
    ap.add_argument("--urllib", action="store_true", help="standard library client instead of openai-python")
    args = ap.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text())
    out = run_urllib(spec, args.mode) if args.urllib else run_sdk(spec, args.mode)
    out["client"] = "urllib" if args.urllib else f"openai-python {__import__('openai').__version__}"
    out["mode"] = args.mode
    out["python"] = sys.version.split()[0]
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
