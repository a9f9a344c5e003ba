"""A sampled batch between rollout and update: sample, submit to the judge, reference pass, save/restore.

One rank's prompts of one outer step: each prompt's candidates with their trajectories and old
log-probs, the judge handle, the transitions each candidate trains and the reference step means.
With ``train.pipeline.depth`` 1 a batch waits for its verdicts while the next one is sampled, so a
checkpoint can fall between its sampling and its update: :func:`batch_to_dict` /
:func:`batch_from_dict` carry it through the checkpoint, and a restored batch, whose judge handle
belonged to the previous process, is submitted again (its images are decoded again from the
stored latents, bit for bit, so a deterministic judge gives the same verdicts).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from autorubric_runtime.reward_client import JudgeRequest

if TYPE_CHECKING:
    from autorubric_runtime.trainer import TrainState, WindowStats


@dataclass
class Sampled:
    """One prompt's candidates between rollout and loss."""

    rollout: Any  # sampler.Rollout
    request: JudgeRequest  # what is (or will be) submitted
    names: list[str]  # file names of the candidates' images under the sample writer's directory
    steps: list[list[int]]  # per candidate: the transitions it trains
    sampled_at: int  # optimizer updates done when it was sampled (the weights it came from)
    handle: Any = None  # reward handle; None until submitted in this process
    ref_mean: dict[tuple[int, int], Tensor] = field(default_factory=dict)  # (candidate, step) -> (1, L, Ch)


@contextlib.contextmanager
def timer(stats: WindowStats, name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    setattr(stats, name, getattr(stats, name) + time.perf_counter() - t0)


def sample_batch(state: TrainState, seq: int) -> list[Sampled]:
    """Sample this rank's next prompts, submit each to the judge as soon as it is decoded, then run
    the reference pass while the judge works. ``seq`` numbers the batch (image names, request index).
    """
    from autorubric_runtime.sampler import init_noise, rollout

    cfg, ad, info, w = state.cfg, state.adapter, state.info, state.window
    C, S, T = cfg.sampler.candidates, cfg.sampler.steps, cfg.trained_steps
    sampler_cfg = cfg.section("sampler")
    rows = state.data.next_batch(cfg.prompts_per_gpu, info)
    batch: list[Sampled] = []
    for i, row in enumerate(rows):
        # candidates of a prompt share their initial noise when configured
        with timer(w, "time_sampling"), torch.no_grad(), state.autocast():
            cond = _encode(state, row.prompt, row.source_image)
            x_init = init_noise(ad, 1, C, state.sample_gen, same_noise=cfg.sampler.same_init_noise)  # (C, L, Ch)
            ro = rollout(ad, cond, sampler_cfg, state.sample_gen, init_noise=x_init)
        names = [f"r{info.rank}-o{seq}-p{i}-c{c}.png" for c in range(C)]
        request = JudgeRequest(info.rank, state.update, seq * cfg.prompts_per_gpu + i, row.prompt, [], row.source_image)
        # the last transition is never trained; each candidate draws its own subset of the others
        steps = [sorted(torch.randperm(S - 1, generator=state.select_gen)[:T].tolist()) for _ in range(C)]
        s = Sampled(ro, request, names, steps, state.update)
        submit(state, s)
        batch.append(s)
    reference_pass(state, batch)
    return batch


def _encode(state: TrainState, prompt: str, source_image: str | None) -> Any:
    C = state.cfg.sampler.candidates
    return state.adapter.encode([prompt], [source_image] if source_image else None).repeat_each(C)


def submit(state: TrainState, s: Sampled) -> None:
    """Decode the judged latents, write the images under their names and submit (non-blocking)."""
    with timer(state.window, "time_decode"), torch.no_grad():
        pixels = state.adapter.decode(s.rollout.judged(state.cfg.sampler.judged_image)).float().clamp(0, 1).cpu()
        paths = state.write_images(pixels, s.names) if state.write_images else []
    s.request = dataclasses.replace(s.request, images=paths, pixels=pixels)
    s.handle = state.reward.submit(s.request)


def reference_pass(state: TrainState, batch: list[Sampled]) -> None:
    """Reference step means (LoRA scaled to zero, no grad) of every trained transition.

    They feed the KL term and the ``kl_ref`` metric, so the pass runs whatever kl_beta is. Each
    transition is recomputed for one sample at a time, as the rollout ran (micro-batch 1).
    """
    from autorubric_runtime.sampler import transition

    with timer(state.window, "time_reference"), torch.no_grad(), state.reference_mode(), state.autocast():
        for s in batch:
            for c, js in enumerate(s.steps):
                for j in js:
                    s.ref_mean[c, j] = transition(state.adapter, s.rollout, j, torch.tensor([c])).mean.float()


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


def batch_from_dict(state: TrainState, items: list[dict[str, Any]]) -> list[Sampled]:
    """The inverse of :func:`batch_to_dict`; the batch is not submitted yet (handle None)."""
    from autorubric_runtime.sampler import Rollout

    dev = state.adapter.device
    batch = []
    for item in items:
        request = JudgeRequest(**item["request"])
        with torch.no_grad(), state.autocast():
            cond = _encode(state, request.prompt, request.source_image)
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
