"""The model-adapter interface shared by sampling, training and the bridge.

An adapter hides one model family behind four things: ``encode`` (prompts, and source images for
editing, to a :class:`Condition`), ``predict_velocity`` (one transformer call on packed latents),
``decode`` (packed latents to RGB in [0, 1]) and ``transformer`` (the module LoRA attaches to).
Everything the sampler and the trainer do is written against this protocol only.

Family modules (``flux.py``, ``qwen_edit.py``) export ``load(model: ModelCfg, sampler: SamplerCfg,
device, dtype) -> ModelAdapter`` so that :func:`load_adapter` can import them lazily; ``model.path``
is already a local folder or hub id (``"tiny"`` is resolved here by ``tiny.ensure_tiny``, whose
recipes ``tiny_flux.py`` and ``tiny_qwen_edit.py`` import no adapter module).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, runtime_checkable

import torch
from torch import Tensor

from autorubric_runtime.run_config import ModelCfg, SamplerCfg

#: family name -> module implementing ``load``.
FAMILY_MODULES: dict[str, str] = {
    "flux": "autorubric_runtime.models.flux",
    "qwen-edit": "autorubric_runtime.models.qwen_edit",
}


def unbatched(default: Any = None) -> Any:
    """A Condition field that is shared by the whole batch (not sliced or concatenated).

    Example: FLUX ``txt_ids`` (T, 3) is the same for every sample.
    """
    return field(default=default, metadata={"batched": False})


@dataclass
class Condition:
    """Everything a transformer call needs besides latents and timestep (tensors on device).

    Subclasses add their fields. By default every Tensor field is batch-first (dim 0 = sample) and
    every list/tuple field holds one entry per sample; fields declared with :func:`unbatched` are
    shared. Subclasses whose samples need padding to be batched (e.g. variable-length text) override
    :meth:`cat`.
    """

    @classmethod
    def _field_kinds(cls) -> Iterator[tuple[str, bool]]:
        for f in dataclasses.fields(cls):
            yield f.name, f.metadata.get("batched", True)

    def batch_size(self) -> int:
        for name, batched in self._field_kinds():
            value = getattr(self, name)
            if batched and isinstance(value, Tensor):
                return int(value.shape[0])
            if batched and isinstance(value, (list, tuple)):
                return len(value)
        raise ValueError(f"{type(self).__name__} has no batched field to size the batch")

    def index(self, i: int | Sequence[int] | Tensor) -> Self:
        """Select sample(s) ``i``; the batch dimension is always kept (an int gives a batch of 1)."""
        if isinstance(i, Tensor):
            ids = [int(v) for v in i.reshape(-1).tolist()]
        elif isinstance(i, int):
            ids = [i]
        else:
            ids = [int(v) for v in i]
        values: dict[str, Any] = {}
        for name, batched in self._field_kinds():
            value = getattr(self, name)
            if not batched or value is None:
                values[name] = value
            elif isinstance(value, Tensor):
                values[name] = value[torch.tensor(ids, device=value.device, dtype=torch.long)]
            elif isinstance(value, (list, tuple)):
                values[name] = [value[j] for j in ids]
            else:
                values[name] = value
        return type(self)(**values)

    @classmethod
    def cat(cls, conds: Sequence[Self]) -> Self:
        """Concatenate the samples of several conditions (same subclass) into one batch."""
        if not conds:
            raise ValueError("Condition.cat needs at least one condition")
        first = conds[0]
        values: dict[str, Any] = {}
        for name, batched in first._field_kinds():
            items = [getattr(c, name) for c in conds]
            if not batched or items[0] is None:
                values[name] = items[0]
            elif isinstance(items[0], Tensor):
                values[name] = torch.cat(items, dim=0)
            elif isinstance(items[0], (list, tuple)):
                values[name] = [x for item in items for x in item]
            else:
                values[name] = items[0]
        return type(first)(**values)

    def repeat_each(self, n: int) -> Self:
        """Each sample repeated ``n`` times in place: [a, b] -> [a, a, b, b] (candidates of a prompt)."""
        ids = [i for i in range(self.batch_size()) for _ in range(n)]
        return self.index(ids)

    def to(self, device: torch.device | str) -> Self:
        values = {
            name: (getattr(self, name).to(device) if isinstance(getattr(self, name), Tensor) else getattr(self, name))
            for name, _ in self._field_kinds()
        }
        return type(self)(**values)


@runtime_checkable
class ModelAdapter(Protocol):
    """One model family behind the calls the sampler and the trainer make."""

    family: str
    """"flux" | "qwen-edit"."""
    transformer: torch.nn.Module
    """The denoiser; LoRA is attached to it."""
    latent_shape: tuple[int, int]
    """Packed (L, C) for the configured height/width."""
    pipeline_class: type
    """The diffusers pipeline class whose ``save_lora_weights``/``load_lora_weights`` define the LoRA format."""
    device: torch.device
    dtype: torch.dtype
    """Weights dtype of the transformer (bf16 on GPU by default, fp32 on CPU)."""
    guidance: float | None
    """Guidance-embedding value (FLUX) or None."""

    def encode(self, prompts: list[str], source_images: list[str] | None = None) -> Condition:
        """Text (and source-image) conditioning for a batch; prompt embeddings are cached per prompt."""
        ...

    def predict_velocity(self, latents: Tensor, sigma: Tensor, cond: Condition) -> Tensor:
        """latents (B, L, C) packed; sigma (B,) in [0, 1], already quantised; returns velocity (B, L, C)."""
        ...

    def decode(self, latents: Tensor) -> Tensor:
        """Packed latents (B, L, C) -> images (B, 3, H, W) float32 in [0, 1]."""
        ...


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``train.model.dtype``; ``auto``: bf16 on GPU, fp32 on CPU, as the config documents."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise ValueError(f"train.model.dtype: unknown dtype {dtype!r}; use one of auto, float32, bfloat16")
    return table[dtype]


def family_module(family: str) -> Any:
    if family not in FAMILY_MODULES:
        raise ValueError(f"train.model.family: unknown family {family!r}; use one of {sorted(FAMILY_MODULES)}")
    return importlib.import_module(FAMILY_MODULES[family])


def load_adapter(
    model: ModelCfg,
    sampler: SamplerCfg,
    device: torch.device | str | None = None,
) -> ModelAdapter:
    """Build the adapter for the config's ``train.model`` section (``sampler``: image size, guidance).

    ``model.path == "tiny"`` builds (once, cached on disk) the offline tiny model of the family and
    loads it through the same ``from_pretrained`` code as a real checkpoint.
    """
    dev = resolve_device(device)
    dt = resolve_dtype(model.dtype, dev)
    if model.path == "tiny":
        from autorubric_runtime.models.tiny import ensure_tiny

        model = dataclasses.replace(model, path=str(ensure_tiny(model.family)))
    return family_module(model.family).load(model, sampler, dev, dt)
