"""The time embedding sees the exact fp32 timestep (and guidance), whatever the weights' dtype.

diffusers' FLUX and Qwen-Image transformers cast the timestep (FLUX: and the guidance) to the dtype
of the embedded latents before the sinusoidal projection, which itself runs in fp32. With bf16
weights (or under bf16 autocast) the quantised timesteps 0.954 / 0.833 / 0.750 / 0.642 reach the
FLUX embedding as 952 / 832 / 752 / 640 and guidance 3.5 as 3504; Qwen's 0.874 becomes 0.875.
Rollout and update share the path, so the importance ratio is unaffected, but the model is fed
timesteps it was never trained on, unlike the reference trainer's fp32 master weights.

:class:`ExactTimeInputs` puts a forward pre-hook on the transformer's time embedding module that
replaces those arguments by the fp32 values the adapter passed, cast the way an fp32 model casts
them: a bf16 model then sees exactly what an fp32 model sees. Outside :meth:`ExactTimeInputs.feeding`
(a stock pipeline calling the same module) the hook changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn


class ExactTimeInputs:
    """Feeds ``embed`` (the transformer's ``time_text_embed``) exact leading arguments.

    Args:
        embed: the module whose leading positional arguments are the timestep (then the guidance).
        scale: what the transformer multiplies the timestep and guidance by before calling
            ``embed`` (FLUX 1000; Qwen-Image 1, its projection scales by 1000 itself).
    """

    def __init__(self, embed: nn.Module, scale: float) -> None:
        self.scale = scale
        self._values: tuple[Tensor, ...] | None = None
        embed.register_forward_pre_hook(self._hook)

    @contextlib.contextmanager
    def feeding(self, *values: Tensor) -> Iterator[None]:
        """For the duration, the embedding's first ``len(values)`` arguments are these (B,) values."""
        self._values = tuple(v.detach().to(torch.float32) for v in values)
        try:
            yield
        finally:
            self._values = None

    def _hook(self, module: nn.Module, args: tuple) -> tuple | None:
        if self._values is None:
            return None
        args = list(args)
        for i, value in enumerate(self._values):
            exact = value.to(args[i].device) * self.scale
            if args[i].shape[0] == 2 * exact.shape[0]:
                # Qwen's zero_cond_t doubles the batch with a zero timestep for the condition image
                exact = torch.cat([exact, exact * 0])
            if args[i].shape != exact.shape:
                raise ValueError(
                    f"time embedding argument {i} has shape {tuple(args[i].shape)}, expected {tuple(exact.shape)}: "
                    "this diffusers version calls the time embedding differently; update models/exact_time.py"
                )
            args[i] = exact
        return tuple(args)
