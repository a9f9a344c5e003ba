"""The typed payloads: strict parsing, and a static check that the runtime reads only fields that exist.

The other half of the parity check (dataclass fields == what TypeScript sends) is
``test/config/worker-payload.test.ts``, which compares ``key_tree`` with the zod payload schemas.
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest
from payloads import make_model, make_sampler, run_data

from autorubric_runtime import run_config
from autorubric_runtime.run_config import RunCfg, RunConfigError, SampleRequest, key_tree, parse_payload

PACKAGE = Path(run_config.__file__).parent
CONFIG_CLASSES = {
    name: cls for name, cls in vars(run_config).items() if dataclasses.is_dataclass(cls) and isinstance(cls, type)
}


def test_every_field_is_required_and_unknown_keys_are_rejected() -> None:
    request = {
        "model": dataclasses.asdict(make_model("tiny")),
        "sampler": dataclasses.asdict(make_sampler()),
        "lora_dir": None,
        "prompts": ["a red cat", {"prompt": "two dogs", "tag": "counting"}],
        "seeds": [1, 2],
        "out_dir": "/tmp/out",
        "source_images": None,
        "layout": "flat",
        "images_per_prompt": 1,
    }
    parsed = parse_payload(SampleRequest, request)
    assert parsed.prompts[1] == {"prompt": "two dogs", "tag": "counting"} and parsed.seeds == (1, 2)
    with pytest.raises(RunConfigError, match=r"missing key sampler\.eta"):
        parse_payload(
            SampleRequest, {**request, "sampler": {k: v for k, v in request["sampler"].items() if k != "eta"}}
        )
    with pytest.raises(RunConfigError, match=r"unknown key device"):
        parse_payload(SampleRequest, {**request, "device": "cpu"})
    with pytest.raises(RunConfigError, match=r"layout: 'grid' is not one of"):
        parse_payload(SampleRequest, {**request, "layout": "grid"})
    # a dataclass with a default would let Python invent a value the schema never sent
    for cls in CONFIG_CLASSES.values():
        defaults = [f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING]
        assert defaults == [], (cls.__name__, defaults)


def test_key_tree_is_the_nested_field_names() -> None:
    tree = key_tree(RunCfg)
    assert tree["sampler"]["eta"] is None and tree["seed"] is None
    assert set(tree) == set(run_data())
    assert set(tree["sampler"]) == set(run_data()["sampler"])


# ----------------------------------------------------------------------------- static field check


def _config_class(annotation: ast.expr | None) -> type | None:
    """The config dataclass an annotation names (``SamplerCfg``, ``LoraCfg | None``, ``"RunCfg"``)."""
    if annotation is None:
        return None
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    if isinstance(annotation, ast.BinOp):
        return _config_class(annotation.left) or _config_class(annotation.right)
    if isinstance(annotation, ast.Name):
        return CONFIG_CLASSES.get(annotation.id)
    return None


def _field_class(cls: type, name: str) -> type | None:
    hint = typing.get_type_hints(cls).get(name)
    options = typing.get_args(hint) or (hint,)
    return next((o for o in options if isinstance(o, type) and dataclasses.is_dataclass(o)), None)


class _Reads(ast.NodeVisitor):
    """Attribute reads on config dataclasses, with their types inferred from annotations and assignments."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.bad: list[str] = []
        self.checked = 0

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        env: dict[str, type] = {}
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            cls = _config_class(arg.annotation)
            if cls is not None:
                env[arg.arg] = cls
        for _ in range(3):  # assignments may chain (cfg = state.cfg; s = cfg.sampler)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign):
                    for target in sub.targets:
                        self._bind(target, sub.value, env)
                elif isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name):
                    cls = _config_class(sub.annotation) or (sub.value is not None and self._type(sub.value, env))
                    if cls:
                        env[sub.target.id] = cls
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute):
                cls = self._type(sub.value, env)
                if cls is not None:
                    self.checked += 1
                    if not hasattr(cls, sub.attr) and sub.attr not in {f.name for f in dataclasses.fields(cls)}:
                        self.bad.append(f"{self.module}:{sub.lineno}: {cls.__name__} has no field {sub.attr!r}")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _bind(self, target: ast.expr, value: ast.expr, env: dict[str, type]) -> None:
        if isinstance(target, ast.Name):
            cls = self._type(value, env)
            if cls is not None:
                env[target.id] = cls
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            for t, v in zip(target.elts, value.elts, strict=False):
                self._bind(t, v, env)

    def _type(self, expr: ast.expr, env: dict[str, type]) -> type | None:
        if isinstance(expr, ast.Name):
            return env.get(expr.id)
        if isinstance(expr, ast.Attribute):
            if expr.attr == "cfg":  # TrainState.cfg, the one place a RunCfg is stored
                return RunCfg
            owner = self._type(expr.value, env)
            return _field_class(owner, expr.attr) if owner is not None else None
        if isinstance(expr, ast.Call):
            name = expr.func.attr if isinstance(expr.func, ast.Attribute) else getattr(expr.func, "id", "")
            if name in ("parse_run_config", "load_run_config"):
                return RunCfg
            if name == "parse_payload" and expr.args and isinstance(expr.args[0], ast.Name):
                return CONFIG_CLASSES.get(expr.args[0].id)
            if name == "replace" and expr.args:  # dataclasses.replace keeps the type
                return self._type(expr.args[0], env)
        return None


def _scan(source: str, module: str) -> _Reads:
    reads = _Reads(module)
    reads.visit(ast.parse(source))
    return reads


def test_the_runtime_reads_only_fields_the_schema_sends() -> None:
    checked = 0
    bad: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        reads = _scan(path.read_text(), str(path.relative_to(PACKAGE.parent)))
        checked += reads.checked
        bad += reads.bad
    assert bad == []
    assert checked > 50  # the check sees the runtime's config reads, not nothing


def test_the_static_check_catches_a_misspelt_or_unsent_field() -> None:
    source = """
def rollout(adapter: Any, cfg: SamplerCfg) -> None:
    return cfg.etaa

def step(state: Any) -> None:
    cfg, ad = state.cfg, state.adapter
    s = cfg.sampler
    return s.steps + cfg.rpo.win_reward + cfg.dataset.path

def sample(args: Any) -> None:
    req = parse_payload(SampleRequest, args)
    return req.sampler.eta + req.eta
"""
    bad = {line.split(": ", 1)[1] for line in _scan(source, "x.py").bad}
    assert bad == {
        "SamplerCfg has no field 'etaa'",
        "RpoCfg has no field 'win_reward'",
        "DatasetCfg has no field 'path'",
        "SampleRequest has no field 'eta'",
    }
