"""A sampled batch between rollout and update, and how a checkpoint keeps it.

One rank's prompts of one outer step (sampled by ``trainer.py``): each prompt's candidates with
their trajectories and old log-probs, the judge request and handle, the transitions each candidate
trains and the reference step means. With ``train.pipeline.depth`` 1 a batch waits for its verdicts
while the next one is sampled, so a checkpoint can fall between its sampling and its update:
:func:`batch_to_dict` / :func:`batch_from_dict` carry it through the checkpoint. A restored batch,
whose judge handle belonged to the previous process, is submitted again (its images are decoded
again from the stored latents, bit for bit, so a deterministic judge gives the same verdicts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from autorubric_runtime.reward_client import JudgeRequest


@dataclass
class Sampled:
    """One prompt's candidates between rollout and loss."""

    rollout: Any  # sampler.Rollout
    request: JudgeRequest  # what is (or will be) submitted
    names: list[str]  # file names of the candidates' images under the sample writer's directory
    steps: list[list[int]]  # per candidate: the transitions it trains
    sampled_at: int  # optimizer updates done when it was sampled (the weights it came from)
    handle: Any = None  # reward handle; None until submitted in this process
    ref_mean: dict[tuple[int, int], Tensor] = field(default_factory=dict)  # (candidate, step) -> (1, L, C)


# ----------------------------------------------------------------------------- checkpoint


def batch_to_dict(batch: list[Sampled]) -> list[dict[str, Any]]:
    """What a checkpoint keeps of a batch in flight (CPU tensors; the condition is re-encoded)."""
    out = []
    for s in batch:
        ro = s.rollout
        out.append(
            {
                "rollout": {
                    k: getattr(ro, k).cpu() if isinstance(getattr(ro, k), Tensor) else getattr(ro, k)
                    for k in ("latents", "log_probs", "sigmas", "x0_last", "final", "eta")
                },
                "request": dataclasses.asdict(dataclasses.replace(s.request, pixels=None)),
                "names": s.names,
                "steps": s.steps,
                "sampled_at": s.sampled_at,
                "ref_mean": {k: v.cpu() for k, v in s.ref_mean.items()},
            }
        )
    return out


def batch_from_dict(
    items: list[dict[str, Any]], encode: Callable[[str, str | None], Any], device: torch.device
) -> list[Sampled]:
    """The inverse of :func:`batch_to_dict`; the batch is not submitted yet (handle None).

    ``encode(prompt, source_image)`` rebuilds the condition of the prompt's candidates.
    """
    from autorubric_runtime.sampler import Rollout

    dev = device
    batch = []
    for item in items:
        request = JudgeRequest(**item["request"])
        cond = encode(request.prompt, request.source_image)
        r = item["rollout"]
        ro = Rollout(
            latents=r["latents"].to(dev),
            log_probs=r["log_probs"].to(dev),
            sigmas=r["sigmas"].to(dev),
            x0_last=r["x0_last"].to(dev),
            final=r["final"].to(dev),
            cond=cond,
            eta=r["eta"],
        )
        ref = {tuple(k): v.to(dev) for k, v in item["ref_mean"].items()}
        batch.append(Sampled(ro, request, item["names"], item["steps"], item["sampled_at"], None, ref))
    return batch
