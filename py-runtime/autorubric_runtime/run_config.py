"""The typed configs TypeScript sends to Python, as frozen dataclasses.

Two payloads, both built in TypeScript from the resolved zod config (``src/runtime/payload.ts``)
and parsed here with one strict parser:

- :class:`RunCfg`: ``run.json``, what ``python -m autorubric_runtime.worker --config run.json`` reads.
  The ``train`` section's fields that the workers read, snake_case as in the schema, plus
  ``run_dir``, ``prompts_file`` (rows ``{prompt, source_image}``; TypeScript owns parsing of user
  dataset formats), ``judge_task``, ``resume`` and ``service: {url, token}`` (the token is normally
  null here and comes from the ``ARR_SERVICE_TOKEN`` environment variable, never from a file).
- :class:`SampleRequest`: the arguments of the bridge's ``sample`` op (api.py).

The zod schema is the only home of defaults and cross-field rules: every field here is required, so
Python never invents a value, and an unknown key is an error naming the key (a silently ignored
setting is worse than a crash). Adding a field: one line with ``.describe()`` in the zod schema, one
field in the dataclass here; ``test/config/worker-payload.test.ts`` fails until both sides agree.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union


class RunConfigError(ValueError):
    """A payload that does not match the schema (names the file and the key)."""


@dataclass(frozen=True)
class ModelCfg:
    family: Literal["flux", "qwen-edit"]
    path: str
    dtype: Literal["auto", "float32", "bfloat16"]


@dataclass(frozen=True)
class DatasetCfg:
    shuffle: bool


@dataclass(frozen=True)
class LoraCfg:
    rank: int
    alpha: float
    dropout: float
    targets: str | tuple[str, ...]
    init_from: str | None


@dataclass(frozen=True)
class SamplerCfg:
    steps: int
    eta: float
    shift: float
    guidance: float
    height: int
    width: int
    candidates: int
    same_init_noise: bool
    judged_image: Literal["x0_last", "final"]
    seed: int


@dataclass(frozen=True)
class RpoCfg:
    clip_range: float
    kl_beta: float
    kl_estimator: Literal["closed_form", "sample"]
    adv_clip: float
    timestep_fraction: float


@dataclass(frozen=True)
class PipelineCfg:
    depth: Literal[0, 1]


@dataclass(frozen=True)
class OptimCfg:
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    eps: float
    grad_clip: float
    warmup_steps: int


@dataclass(frozen=True)
class DistributedCfg:
    strategy: Literal["ddp", "fsdp"]
    backend: Literal["auto", "nccl", "gloo"]
    node_rank: int  # 0: the node that owns the run; its ranks come first
    shared_run_dir: bool  # false: each node checkpoints its own ranks' state into its own run directory


@dataclass(frozen=True)
class DiversityCfg:
    seeds: int


@dataclass(frozen=True)
class HealthCfg:
    """What the workers need of ``train.health``: seeds per eval prompt for the diversity measure."""

    diversity: DiversityCfg


@dataclass(frozen=True)
class ServiceCfg:
    """The reward service as the worker sees it (null url: an in-process reward, tests only)."""

    url: str | None
    token: str | None


@dataclass(frozen=True)
class RunCfg:
    """One run as the worker sees it."""

    model: ModelCfg
    dataset: DatasetCfg
    lora: LoraCfg
    sampler: SamplerCfg
    rpo: RpoCfg
    optim: OptimCfg
    pipeline: PipelineCfg
    prompts_per_gpu: int
    grad_accum: int
    max_steps: int
    checkpoint_every: int
    keep_checkpoints: int
    eval_every: int
    eval_prompts: tuple[str, ...]
    gradient_checkpointing: bool
    mixed_precision: Literal["auto", "bf16", "no"]
    distributed: DistributedCfg
    health: HealthCfg
    service: ServiceCfg
    seed: int
    run_dir: str
    prompts_file: str
    judge_task: Literal["t2i", "edit"]
    resume: bool

    @property
    def prompts_path(self) -> Path:
        return Path(self.prompts_file)

    @property
    def trained_steps(self) -> int:
        """Transitions trained per sample: floor((S - 1) * fraction), the last one never (the schema keeps it >= 1)."""
        return int((self.sampler.steps - 1) * self.rpo.timestep_fraction)


@dataclass(frozen=True)
class SampleRequest:
    """The ``sample`` op's arguments (see api.py for the semantics)."""

    model: ModelCfg
    sampler: SamplerCfg
    lora_dir: str | None
    prompts: tuple[str | dict[str, Any], ...]  # text, or a GenEval metadata object (or its JSON line)
    seeds: tuple[int, ...]  # one per prompt; image j of prompt i uses seeds[i] + j
    out_dir: str
    source_images: tuple[str, ...] | None  # one per prompt for editing models
    layout: Literal["flat", "geneval"]
    images_per_prompt: int


@dataclass(frozen=True)
class WandbCfg:
    project: str
    entity: str | None
    name: str
    id: str  # stable over resumes: TypeScript keeps it in tracking.json in the run directory
    dir: str


@dataclass(frozen=True)
class TrackingCfg:
    """``tracking.json``: what ``python -m autorubric_runtime.tracking`` reads (see tracking.py)."""

    trackers: tuple[Literal["tensorboard", "wandb"], ...]
    tensorboard_dir: str
    wandb: WandbCfg
    config: dict[str, Any]  # the resolved run config (secrets redacted), shown by W&B


def key_tree(cls: Any) -> dict[str, Any]:
    """Field names, nested for dataclass fields (``{"model": {"family": None, ...}, ...}``); the parity test's view."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: key_tree(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else None
        for f in dataclasses.fields(cls)
    }


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples / dicts to dataclasses."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RunConfigError(f"{where}: expected an object, got {type(value).__name__}")
        return _build(tp, value, where)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _convert(value, option, where)
            except RunConfigError as error:
                errors.append(str(error))
        raise RunConfigError(errors[-1] if len(errors) == 1 else f"{where}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise RunConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise RunConfigError(f"{where}: expected an object, got {type(value).__name__}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise RunConfigError(f"{where}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise RunConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if tp is type(None):
        if value is not None:
            raise RunConfigError(f"{where}: expected null")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise RunConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RunConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RunConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise RunConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"run_config: unsupported annotation {tp!r} at {where}")  # a bug here, not in the file


def _build(cls: Any, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{where}." if where else ""
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise RunConfigError(
            f"unknown key {prefix}{unknown[0]}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            + f"; known keys here: {', '.join(names)}"
        )
    missing = [name for name in names if name not in data]
    if missing:
        raise RunConfigError(
            f"missing key {prefix}{missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; TypeScript sends every field resolved (defaults live in the zod schema only)"
        )
    return cls(**{name: _convert(data[name], hints[name], f"{prefix}{name}") for name in names})


T = TypeVar("T")


def parse_payload(cls: type[T], data: Any) -> T:
    """Build the dataclass ``cls`` from decoded JSON: every field required, unknown keys rejected."""
    if not isinstance(data, dict):
        raise RunConfigError(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    return _build(cls, data, "")


def parse_run_config(data: Any, env: dict[str, str] | None = None) -> RunCfg:
    """Build a :class:`RunCfg` from the decoded JSON; a null token falls back to ``ARR_SERVICE_TOKEN``."""
    cfg = parse_payload(RunCfg, data)
    env = dict(os.environ) if env is None else env
    if cfg.service.token is None and env.get("ARR_SERVICE_TOKEN"):
        cfg = dataclasses.replace(cfg, service=dataclasses.replace(cfg.service, token=env["ARR_SERVICE_TOKEN"]))
    return cfg


def load_run_config(path: str | Path, env: dict[str, str] | None = None) -> RunCfg:
    """Read and validate ``run.json``; errors name the file and the key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf8"))
    except FileNotFoundError:
        raise RunConfigError(f"{path}: not found (the worker needs the run JSON that `arr train` writes)") from None
    except json.JSONDecodeError as error:
        raise RunConfigError(f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
    try:
        return parse_run_config(data, env)
    except RunConfigError as error:
        raise RunConfigError(f"{path}: {error}") from None
