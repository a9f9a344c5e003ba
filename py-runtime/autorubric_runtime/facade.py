"""The one surface the TypeScript bridge calls: ``call(op, args_json) -> str``.

Every reply is JSON text, either ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": {"type", "message", "traceback"}}``, so that nothing the bridge transports
can hurt Node:

* exceptions never cross the bridge as exceptions (pythonia's would arrive with an empty message);
* NaN and infinities become ``null`` (pythonia's JSON parser dies on them and takes Node down);
* bytes become base64 text, tuples and sets become lists, numpy/torch scalars become numbers;
* ``sys.stdout`` and file descriptor 1 point at stderr from import on, so a stray ``print`` (ours or
  a library's, Python-level or C-level) cannot corrupt the CLI's ``--json`` output.

Ops come from ``api.OPS`` (imported lazily, so a broken or missing ``api`` does not break ``ping``)
plus the diagnostic ops here. There are no test-only ops: the bridge tests import a module of their
own that wraps :func:`call` (``test/runtime/fixtures/bridge_test_facade.py``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any


def _redirect_stdout() -> None:
    # pythonia gives Python Node's own fd 1, and talks to Node over a separate IPC socket, so fd 1
    # can be pointed at stderr without touching the bridge's channel.
    with contextlib.suppress(Exception):  # a closed stdout is fine: it is replaced below
        sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.dup2(2, 1)
    sys.stdout = sys.stderr


_redirect_stdout()

log = logging.getLogger("autorubric_runtime.facade")

Op = Callable[[dict[str, Any]], Any]


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps(allow_nan=False)`` accepts, non-finite floats as None."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    # numpy / torch scalars and arrays, without importing either here.
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return json_safe(tolist())
    item = getattr(value, "item", None)
    if callable(item):
        return json_safe(item())
    return repr(value)


def _ping(args: dict[str, Any]) -> dict[str, Any]:
    return {"pong": True, "pid": os.getpid(), "echo": json_safe(args.get("echo"))}


def versions(args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Versions of Python and the ML stack, and the GPUs torch sees. Missing packages are None."""
    import importlib.metadata as md
    import platform

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
    }
    for name in ("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    out["torch_error"] = None
    out["cuda_available"] = False
    out["cuda_version"] = None
    out["gpus"] = []
    if out["torch"] is not None:
        try:
            import torch

            out["cuda_available"] = bool(torch.cuda.is_available())
            out["cuda_version"] = torch.version.cuda
            if out["cuda_available"]:
                for i in range(torch.cuda.device_count()):
                    props = torch.cuda.get_device_properties(i)
                    out["gpus"].append({"index": i, "name": props.name, "memory_bytes": int(props.total_memory)})
        except Exception as exc:  # noqa: BLE001 - reported, not raised: doctor explains it
            out["torch_error"] = f"{type(exc).__name__}: {exc}"
    try:
        import autorubric_runtime  # noqa: F401

        out["runtime_imports"] = True
        out["runtime_error"] = None
    except Exception as exc:  # noqa: BLE001
        out["runtime_imports"] = False
        out["runtime_error"] = f"{type(exc).__name__}: {exc}"
    return out


DIAGNOSTIC_OPS: dict[str, Op] = {"ping": _ping, "versions": versions}


def _resolve(op: str, extra_ops: Mapping[str, Op]) -> Op:
    if op in extra_ops:
        return extra_ops[op]
    if op in DIAGNOSTIC_OPS:
        return DIAGNOSTIC_OPS[op]
    try:
        # Lazy: api pulls in torch and diffusers, and a broken api must not take ping down with it.
        from autorubric_runtime import api
    except Exception as exc:
        raise ImportError(
            f"op {op!r} needs autorubric_runtime.api, which failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    ops: Mapping[str, Op] = getattr(api, "OPS", {})
    if op not in ops:
        known = sorted([*extra_ops, *DIAGNOSTIC_OPS, *ops])
        raise KeyError(f"unknown op {op!r}; known ops: {', '.join(known)}")
    return ops[op]


def _error(exc: BaseException) -> str:
    return json.dumps(
        {
            "ok": False,
            "error": {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": "".join(traceback.format_exception(exc)),
            },
        }
    )


def call(op: str, args_json: str, extra_ops: Mapping[str, Op] | None = None) -> str:
    """Runs one op with JSON arguments; always returns JSON text, never raises.

    ``extra_ops`` are looked up first: a module wrapping this one (the bridge's ``facade`` option)
    adds its own ops that way, e.g. the TypeScript tests' fault ops.
    """
    try:
        args = json.loads(args_json) if args_json else {}
        if not isinstance(args, dict):
            raise TypeError(f"op {op!r} takes a JSON object of arguments, got {type(args).__name__}")
        fn = _resolve(op, extra_ops or {})
        result = fn(args)
        return json.dumps({"ok": True, "result": json_safe(result)}, allow_nan=False)
    except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt must not kill the bridge thread
        log.debug("op %s failed", op, exc_info=True)
        return _error(exc)
