"""The run JSON that TypeScript writes for the workers (``--config run.json``), as frozen dataclasses.

Layout: the ``train`` section of ``src/config/schema.ts`` at the top level, snake_case as is, plus

- ``run_dir``: the run directory (checkpoints/, samples/, grids/ live in it);
- ``prompts_file``: the normalised prompts (default ``<run_dir>/prompts.jsonl``), rows
  ``{prompt, source_image?}``; TypeScript owns parsing of user dataset formats;
- ``judge_task``: ``t2i`` | ``edit``;
- ``resume``: continue from ``<run_dir>/checkpoints/latest``;
- ``service``: ``{url, token?}`` of the reward service. It replaces the train section's
  ``service`` (bind/port/...) which only the TypeScript side needs. The token normally travels in
  the ``ARR_SERVICE_TOKEN`` environment variable, never in a file.

The worker never parses YAML. Defaults mirror schema.ts so that tests can write short files; an
unknown key is an error naming the key, because a silently ignored setting is worse than a crash.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union


class RunConfigError(ValueError):
    """A run JSON that does not match the schema (names the file and the key)."""


@dataclass(frozen=True)
class ModelCfg:
    family: Literal["flux", "qwen-edit"]
    path: str
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"


@dataclass(frozen=True)
class DatasetCfg:
    path: str = ""
    format: str = "auto"
    shuffle: bool = True
    drop_cjk: bool = False
    limit: int | None = None


@dataclass(frozen=True)
class LoraCfg:
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    targets: str | tuple[str, ...] = "attention"
    init_from: str | None = None


@dataclass(frozen=True)
class SamplerCfg:
    steps: int = 8
    eta: float = 0.3
    shift: float = 3.0
    guidance: float = 3.5
    height: int = 512
    width: int = 512
    candidates: int = 2
    same_init_noise: bool = True
    judged_image: Literal["x0_last", "final"] = "x0_last"
    seed: int = 1223627


@dataclass(frozen=True)
class RpoCfg:
    clip_range: float = 0.2
    kl_beta: float = 0.01
    kl_estimator: Literal["closed_form", "sample"] = "closed_form"
    adv_clip: float = 5.0
    timestep_fraction: float = 1.0
    win_reward: float = 1.0
    lose_reward: float = -0.1


@dataclass(frozen=True)
class PipelineCfg:
    depth: Literal[0, 1] = 0


@dataclass(frozen=True)
class OptimCfg:
    lr: float = 5e-5
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float = 1.0
    warmup_steps: int = 0
    scheduler: Literal["constant_with_warmup"] = "constant_with_warmup"


@dataclass(frozen=True)
class DistributedCfg:
    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    strategy: Literal["ddp", "fsdp"] = "ddp"
    backend: Literal["auto", "nccl", "gloo"] = "auto"


@dataclass(frozen=True)
class ServiceCfg:
    """Where the reward service listens (the worker's view: URL and token)."""

    url: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class RunCfg:
    """One run as the worker sees it."""

    model: ModelCfg
    dataset: DatasetCfg = field(default_factory=DatasetCfg)
    lora: LoraCfg = field(default_factory=LoraCfg)
    sampler: SamplerCfg = field(default_factory=SamplerCfg)
    rpo: RpoCfg = field(default_factory=RpoCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    pipeline: PipelineCfg = field(default_factory=PipelineCfg)
    prompts_per_gpu: int = 1
    grad_accum: int = 1
    max_steps: int = 300
    checkpoint_every: int = 50
    eval_every: int = 50
    eval_prompts: tuple[str, ...] = ()
    gradient_checkpointing: bool = True
    mixed_precision: Literal["auto", "bf16", "no"] = "auto"
    distributed: DistributedCfg = field(default_factory=DistributedCfg)
    service: ServiceCfg = field(default_factory=ServiceCfg)
    seed: int = 42
    run_dir: str = "."
    prompts_file: str | None = None
    judge_task: Literal["t2i", "edit"] = "t2i"
    resume: bool = False

    @property
    def prompts_path(self) -> Path:
        return Path(self.prompts_file) if self.prompts_file else Path(self.run_dir) / "prompts.jsonl"

    @property
    def trained_steps(self) -> int:
        """Transitions trained per sample: floor((S - 1) * fraction), the last one never."""
        return int((self.sampler.steps - 1) * self.rpo.timestep_fraction)

    def section(self, name: str) -> dict[str, Any]:
        """A section as a plain dict (what ``load_adapter`` and the sampler take)."""
        value = dataclasses.asdict(getattr(self, name))
        return {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples / dicts to dataclasses."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RunConfigError(f"{where}: expected an object, got {type(value).__name__}")
        return _build(tp, value, where)
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
    unknown = sorted(set(data) - set(names))
    if unknown:
        prefix = f"{where}." if where else ""
        raise RunConfigError(
            f"unknown key {prefix}{unknown[0]}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            + f"; known keys here: {', '.join(names)}"
        )
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name in data:
            values[f.name] = _convert(data[f.name], hints[f.name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RunConfigError(f"missing key {key}")
    return cls(**values)


def _validate(cfg: RunCfg) -> None:
    if cfg.trained_steps < 1:
        raise RunConfigError(
            f"rpo.timestep_fraction {cfg.rpo.timestep_fraction} with sampler.steps {cfg.sampler.steps} trains "
            "no transition; raise the fraction so that floor((steps - 1) * fraction) >= 1"
        )
    if cfg.sampler.eta <= 0:
        raise RunConfigError("sampler.eta must be > 0 for training (the deterministic step has no log-prob)")
    if cfg.judge_task == "edit" and cfg.model.family != "qwen-edit":
        raise RunConfigError(f"judge_task 'edit' needs model.family 'qwen-edit', got {cfg.model.family!r}")


def parse_run_config(data: dict[str, Any], env: dict[str, str] | None = None) -> RunCfg:
    """Build a :class:`RunCfg` from the decoded JSON; the token falls back to ``ARR_SERVICE_TOKEN``."""
    if not isinstance(data, dict):
        raise RunConfigError("the run config must be a JSON object")
    cfg: RunCfg = _build(RunCfg, data, "")
    _validate(cfg)
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
