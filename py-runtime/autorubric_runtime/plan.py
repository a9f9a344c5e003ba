"""Exact parameter counts for ``arr plan``: each component built from its configuration on the meta device.

Nothing is downloaded and no weight is allocated: a ``config.json`` names its class (diffusers:
``_class_name``; transformers: ``architectures[0]``), the class is instantiated under
``torch.device("meta")``, and its parameters are counted. The LoRA count attaches nothing either: it
finds the Linear layers that ``train.lora.targets`` hits (the same matching rule ``lora.attach_lora``
uses) and adds r x (in + out) per layer, the size of peft's ``lora_A`` (r x in) and ``lora_B``
(out x r), which carry no bias.

TypeScript (src/plan/) chooses which config files to count (a local model folder's own, else the
ones shipped in ``configs/models/``) and does all the memory and time arithmetic.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


def build_on_meta(config_file: str | Path) -> nn.Module:
    """The module a ``config.json`` describes, with every parameter on the meta device."""
    path = Path(config_file)
    cfg = json.loads(path.read_text())
    if "_class_name" in cfg:
        import diffusers
        from diffusers.utils import logging as diffusers_logging

        cls = getattr(diffusers, str(cfg["_class_name"]), None)
        if cls is None:
            raise ValueError(f"{path}: _class_name {cfg['_class_name']!r} is not a diffusers class")
        # published configs carry keys the class ignores (e.g. Qwen-Image's pooled_projection_dim)
        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()
        try:
            with torch.device("meta"):
                return cls.from_config(cfg)
        finally:
            diffusers_logging.set_verbosity(verbosity)
    architectures = cfg.get("architectures") or []
    if not architectures:
        raise ValueError(f"{path}: neither _class_name (diffusers) nor architectures (transformers) names a class")
    import transformers

    cls = getattr(transformers, str(architectures[0]), None)
    if cls is None:
        raise ValueError(f"{path}: architectures[0] {architectures[0]!r} is not a transformers class")
    config = cls.config_class.from_dict(cfg)
    with torch.device("meta"):
        return cls._from_config(config)


def lora_layers(module: nn.Module, targets: str | list[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """The target suffixes that exist in ``module`` and (in_features, out_features) of every Linear they hit."""
    from autorubric_runtime.lora import matches_target, resolve_targets

    suffixes = resolve_targets(module, targets)
    shapes = [
        (m.in_features, m.out_features)
        for name, m in module.named_modules()
        if isinstance(m, nn.Linear) and any(matches_target(name, t) for t in suffixes)
    ]
    return suffixes, shapes


def count_parameters(args: dict[str, Any]) -> dict[str, Any]:
    """``{components: [{name, config_file}], lora: {component, rank, targets} | null}`` -> counts.

    Returns ``{components: [{name, class_name, params, config_file}], lora: {component, rank,
    params, layers, targets} | null}``; ``lora.params`` = sum over hit layers of rank x (in + out).
    """
    lora = args["lora"]
    out: list[dict[str, Any]] = []
    lora_result: dict[str, Any] | None = None
    for comp in args["components"]:
        module = build_on_meta(comp["config_file"])
        out.append(
            {
                "name": comp["name"],
                "class_name": type(module).__name__,
                "params": sum(p.numel() for p in module.parameters()),
                "config_file": str(comp["config_file"]),
            }
        )
        if lora is not None and comp["name"] == lora["component"]:
            suffixes, shapes = lora_layers(module, lora["targets"])
            rank = int(lora["rank"])
            lora_result = {
                "component": comp["name"],
                "rank": rank,
                "params": sum(rank * (i + o) for i, o in shapes),
                "layers": len(shapes),
                "targets": suffixes,
            }
        del module
    if lora is not None and lora_result is None:
        raise ValueError(f"lora.component {lora['component']!r} is not among the components counted")
    return {"components": out, "lora": lora_result}
