"""Complete payloads for tests, built from what TypeScript sends for the default config.

``fixtures/run.json`` is ``workerConfig()`` of the schema's defaults (``test/config/worker-payload.test.ts``
checks that it stays so), so a Python test states only what it changes and never a default of its own.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from autorubric_runtime.run_config import LoraCfg, ModelCfg, RunCfg, SamplerCfg, parse_run_config

RUN_JSON = Path(__file__).parent / "fixtures" / "run.json"


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def run_data(**overrides: Any) -> dict[str, Any]:
    """The default run.json with ``overrides`` merged in (nested dicts merge key by key)."""
    return merge(json.loads(RUN_JSON.read_text()), overrides)


def make_run(**overrides: Any) -> RunCfg:
    return parse_run_config(run_data(**overrides), env={})


def make_model(path: str | Path, family: str = "flux", dtype: str = "float32") -> ModelCfg:
    return dataclasses.replace(make_run().model, path=str(path), family=family, dtype=dtype)


def make_sampler(**fields: Any) -> SamplerCfg:
    return dataclasses.replace(make_run().sampler, **fields)


def make_lora(**fields: Any) -> LoraCfg:
    return dataclasses.replace(make_run().lora, **fields)
