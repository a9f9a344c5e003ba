"""RPO training: the state of a run and one outer (rollout) step, with gradient accumulation done right.

Accumulation spans OUTER steps: one optimizer update covers ``grad_accum`` rollout steps, i.e.
world_size x prompts_per_gpu x grad_accum prompts with ``candidates`` samples each. The reference
counted the two samples of one step against an accumulation of 8 / 4, so its optimizer never
stepped; here the window is counted in rollout steps, every backward is scaled by
1/(grad_accum x samples per step x trained steps) so that an update applies the mean gradient of
its window, grads are zeroed only after the update, and under DDP/FSDP only the last backward of
the window synchronises. Steps, warmup and checkpoints are counted in optimizer updates.

``train.pipeline.depth`` 1 samples the next batch while the judge scores the previous one (see
:func:`train_step`); the batch in flight lives in ``TrainState.pending`` and in checkpoints
(``batch.py``). Every trained transition also gets a reference pass (LoRA scaled to zero) whatever
kl_beta is, so that ``kl_ref``, the closed-form KL to the reference, is comparable across runs.

Two policy choices worth knowing:

- Advantages are the judge's raw rewards clamped to +-adv_clip, as in the paper (no group
  normalisation). A pair whose judgement is not ``decided`` (tie, invalid, failed, or a malformed
  reply) trains with zero advantage and is counted: equal rewards on a tie would push both
  candidates the same way (a defect of the reference). When every pair of an update failed (a
  judge outage), the optimizer does not step at all: zero advantages would leave only the KL pull
  and AdamW's momentum and decay, training on no evidence. The update is still counted (the data
  and the schedule move on) and its metrics say ``optimizer_step: 0``.
- Every transition is recomputed for one sample at a time, as the rollout ran it (micro-batch 1),
  which makes the first update exactly on-policy (ratio 1 in fp32) on kernels that are not
  batch-invariant. Every rank runs the same number of forwards per step (prompts x candidates x
  trained steps), which FSDP needs: it gathers shards inside each forward.

Letters in shapes and loops: K candidates per prompt, S sampler steps, T trained steps per
candidate, (L, C) the packed latent's tokens and channels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from autorubric_runtime import distributed as D
from autorubric_runtime.batch import Sampled
from autorubric_runtime.reward_client import JudgeRequest, JudgeResult, RewardFn
from autorubric_runtime.rpo import closed_form_kl, kl_to_reference, rpo_loss
from autorubric_runtime.run_config import RunCfg
from autorubric_runtime.window import WindowStats, timer, window_metrics

log = logging.getLogger("autorubric_runtime.trainer")

#: writes decoded candidates (K, 3, H, W) in [0, 1] under the given names; returns absolute paths
ImageWriter = Callable[[Tensor, list[str]], list[str]]


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PromptRow:
    prompt: str
    source_image: str | None = None


class PromptStream:
    """An endless, deterministic stream over the prompts, sharded by rank.

    Global position g maps to epoch g // n and to the epoch's permutation (seeded by (seed, epoch))
    at g % n, so the whole data state is one integer, identical on every rank. Each rollout step
    takes world_size x per_rank consecutive positions; rank r takes its slice of them.
    """

    def __init__(self, rows: list[PromptRow], seed: int, shuffle: bool = True) -> None:
        if not rows:
            raise ValueError("the prompt list is empty")
        self.rows = rows
        self.seed = seed
        self.shuffle = shuffle
        self.position = 0
        self._perm: tuple[int, list[int]] | None = None

    def _order(self, epoch: int) -> list[int]:
        if self._perm is None or self._perm[0] != epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                order = torch.randperm(len(self.rows), generator=g).tolist()
            else:
                order = list(range(len(self.rows)))
            self._perm = (epoch, order)
        return self._perm[1]

    def at(self, g: int) -> PromptRow:
        n = len(self.rows)
        return self.rows[self._order(g // n)[g % n]]

    def next_batch(self, per_rank: int, info: D.DistInfo) -> list[PromptRow]:
        start = self.position + info.rank * per_rank
        batch = [self.at(start + i) for i in range(per_rank)]
        self.position += info.world_size * per_rank
        return batch


# ----------------------------------------------------------------------------- state


@dataclass
class TrainState:
    """Everything a run carries between steps (what a checkpoint saves, plus the live objects)."""

    cfg: RunCfg
    adapter: Any  # ModelAdapter; adapter.transformer is the (wrapped) module every forward goes through
    model: nn.Module  # the DDP/FSDP wrapper (or the transformer itself when single-process)
    inner: nn.Module  # the unwrapped transformer (LoRA names, saving)
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    reward: RewardFn
    data: PromptStream
    info: D.DistInfo
    sample_gen: torch.Generator  # initial and SDE noise (per rank)
    select_gen: torch.Generator  # trained-timestep subsets (per rank)
    write_images: ImageWriter | None = None
    reference: Callable[[], contextlib.AbstractContextManager] | None = None  # LoRA scaled to zero
    update: int = 0  # optimizer updates done
    micro: int = 0  # outer steps done in the current window
    outer: int = 0  # outer steps done in total
    window: WindowStats = field(default_factory=WindowStats)
    pending: list[list[Sampled]] = field(default_factory=list)  # sampled batches awaiting their update
    totals: dict[str, float] = field(default_factory=dict)  # judged counts over the whole run

    def autocast(self) -> contextlib.AbstractContextManager:
        mode = self.cfg.mixed_precision
        dev = self.info.device.type
        if mode == "bf16" or (mode == "auto" and dev == "cuda"):
            return torch.autocast(device_type=dev, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def reference_mode(self) -> contextlib.AbstractContextManager:
        if self.reference is not None:
            return self.reference()
        from autorubric_runtime.lora import reference_mode

        return reference_mode(self.model)


def constant_with_warmup(warmup: int) -> Callable[[int], float]:
    """LR factor for update u (0-based): linear warmup reaching 1 at update ``warmup - 1``, then 1.

    Unlike the common (u / warmup) form, the first update does not run at lr 0.
    """
    return lambda u: min(1.0, (u + 1) / warmup) if warmup > 0 else 1.0


def build_train_state(
    cfg: RunCfg,
    adapter: Any,
    info: D.DistInfo,
    reward: RewardFn,
    rows: list[PromptRow],
    write_images: ImageWriter | None = None,
    reference: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> TrainState:
    """Wrap ``adapter.transformer`` (LoRA attached, weights final) and build optimizer, scheduler, RNGs."""
    inner = adapter.transformer
    model = D.wrap_model(inner, cfg.distributed.strategy, info, bf16=_bf16(cfg, info))
    adapter.transformer = model
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters: attach the LoRA before building the train state")
    o = cfg.optim
    optimizer = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, constant_with_warmup(o.warmup_steps))
    return TrainState(
        cfg=cfg,
        adapter=adapter,
        model=model,
        inner=inner,
        params=params,
        optimizer=optimizer,
        scheduler=scheduler,
        reward=reward,
        data=PromptStream(rows, cfg.seed, cfg.dataset.shuffle),
        info=info,
        sample_gen=torch.Generator().manual_seed(cfg.sampler.seed + 7919 * info.rank),
        select_gen=torch.Generator().manual_seed(cfg.seed + 104_729 + 7919 * info.rank),
        write_images=write_images,
        reference=reference,
    )


def _bf16(cfg: RunCfg, info: D.DistInfo) -> bool:
    return cfg.mixed_precision == "bf16" or (cfg.mixed_precision == "auto" and info.device.type == "cuda")


# ----------------------------------------------------------------------------- one step


@dataclass
class TrainStepResult:
    updated: bool  # this outer step closed an accumulation window (the optimizer stepped)
    update: int  # optimizer updates done after this step
    metrics: dict[str, float | int | None]  # the window's metrics (reduced over ranks) when updated, else {}


def train_step(state: TrainState) -> TrainStepResult:
    """One outer step on this rank: sample, judge, reference, loss and backward; update at the window's end.

    ``train.pipeline.depth`` 0 trains the batch it has just sampled, after waiting for its
    verdicts. Depth 1 samples the next batch first (with the current weights) and trains the one
    sampled in the previous step, whose verdicts came in meanwhile: the judge is off the critical
    path, and the update uses the log-probs recorded at sampling time, one update old, so the
    importance ratio is no longer 1 and the clipped surrogate bounds the step. The run's last step
    samples nothing ahead; a stop in between checkpoints the batch in flight (checkpoint.py).
    """
    cfg, w = state.cfg, state.window
    closes_window = state.micro == cfg.grad_accum - 1
    for s in (s for b in state.pending for s in b if s.handle is None):
        _submit(state, s)  # restored from a checkpoint: judge it again in this process
    if not state.pending:
        state.pending.append(_sample_batch(state, state.outer))
    last = closes_window and state.update == cfg.max_steps - 1
    if cfg.pipeline.depth >= 1 and not last:
        state.pending.append(_sample_batch(state, state.outer + len(state.pending)))
    batch = state.pending.pop(0)

    # advantages = raw rewards clamped to +-adv_clip (in rpo_loss); anything but a decided verdict
    # trains with zero advantage and is counted.
    advs = []
    for s in batch:
        with timer(w, "time_judge_wait"):
            result = state.reward.result(s.handle)
        advs.append(_advantages(result, cfg.sampler.candidates, w))
        w.staleness_sum += state.update - s.sampled_at
    _backward(state, batch, advs, closes_window)
    state.micro += 1
    state.outer += 1
    if state.micro < cfg.grad_accum:
        return TrainStepResult(False, state.update, {})

    # update boundary: clip the grad norm, AdamW step (unless every pair of the window failed, on every
    # rank), LR scheduler step, zero grads.
    reduced = WindowStats.from_vector(D.all_reduce_sum(w.vector(), state.info))
    step = reduced.failed == 0 or reduced.failed < reduced.decided + reduced.tie + reduced.invalid + reduced.failed
    with timer(w, "time_update"):
        lr = float(state.scheduler.get_last_lr()[0])
        grad_norm = D.clip_grad_norm(state.model, state.params, cfg.optim.grad_clip)
        if step:
            state.optimizer.step()
        else:
            log.warning("update %d: every judgement failed; the optimizer does not step", state.update + 1)
        state.scheduler.step()
        state.optimizer.zero_grad(set_to_none=True)
    state.update += 1
    state.micro = 0
    metrics = window_metrics(state.window, state.info, state.totals, state.update, grad_norm, lr)
    metrics["optimizer_step"] = int(step)
    state.window = WindowStats()
    return TrainStepResult(True, state.update, metrics)


def _sample_batch(state: TrainState, seq: int) -> list[Sampled]:
    """Sample this rank's next prompts, submit each to the judge as soon as it is decoded, then run
    the reference pass while the judge works. ``seq`` numbers the batch (image names, request index).
    """
    from autorubric_runtime.sampler import init_noise, rollout

    cfg, ad, info, w = state.cfg, state.adapter, state.info, state.window
    K, S, T = cfg.sampler.candidates, cfg.sampler.steps, cfg.trained_steps
    rows = state.data.next_batch(cfg.prompts_per_gpu, info)
    batch: list[Sampled] = []
    for i, row in enumerate(rows):
        # candidates of a prompt share their initial noise when configured
        with timer(w, "time_sampling"), torch.no_grad(), state.autocast():
            cond = encoder(state)(row.prompt, row.source_image)
            x_init = init_noise(ad, 1, K, state.sample_gen, same_noise=cfg.sampler.same_init_noise)  # (K, L, C)
            ro = rollout(ad, cond, cfg.sampler, state.sample_gen, init_noise=x_init)
        names = [f"r{info.rank}-o{seq}-p{i}-c{c}.png" for c in range(K)]
        request = JudgeRequest(info.rank, state.update, seq * cfg.prompts_per_gpu + i, row.prompt, [], row.source_image)
        # the last transition is never trained; each candidate draws its own subset of the others
        steps = [sorted(torch.randperm(S - 1, generator=state.select_gen)[:T].tolist()) for _ in range(K)]
        s = Sampled(ro, request, names, steps, state.update)
        _submit(state, s)
        batch.append(s)
    _reference_pass(state, batch)
    return batch


def encoder(state: TrainState) -> Callable[[str, str | None], Any]:
    """A prompt's condition for its K candidates (also re-encodes a batch restored from a checkpoint)."""
    K = state.cfg.sampler.candidates

    def encode(prompt: str, source_image: str | None) -> Any:
        with torch.no_grad(), state.autocast():
            return state.adapter.encode([prompt], [source_image] if source_image else None).repeat_each(K)

    return encode


def _submit(state: TrainState, s: Sampled) -> None:
    """Decode the judged latents, write the images under their names and submit (non-blocking)."""
    with timer(state.window, "time_decode"), torch.no_grad():
        pixels = state.adapter.decode(s.rollout.judged(state.cfg.sampler.judged_image)).float().clamp(0, 1).cpu()
        paths = state.write_images(pixels, s.names) if state.write_images else []
    s.request = dataclasses.replace(s.request, images=paths, pixels=pixels)
    s.handle = state.reward.submit(s.request)


def _reference_pass(state: TrainState, batch: list[Sampled]) -> None:
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


def _backward(state: TrainState, batch: list[Sampled], advs: list[Tensor], closes_window: bool) -> None:
    """Per trained transition: log-prob with grad -> ratio -> rpo_loss -> backward, each scaled so
    that the update is the mean over (window outer steps x samples x trained steps)."""
    from autorubric_runtime.sampler import transition

    cfg, w, rpo = state.cfg, state.window, state.cfg.rpo
    scale = 1.0 / (cfg.grad_accum * len(batch) * cfg.sampler.candidates * cfg.trained_steps)
    work = [(s, adv, c, j) for s, adv in zip(batch, advs, strict=True) for c, js in enumerate(s.steps) for j in js]
    with timer(w, "time_update"):
        for n, (s, adv, c, j) in enumerate(work):
            sync = closes_window and n == len(work) - 1  # only the window's last backward all-reduces
            with D.no_sync(state.model, enabled=not sync):
                with state.autocast():
                    out = transition(state.adapter, s.rollout, j, torch.tensor([c]))
                logp = out.log_prob.float()  # type: ignore[union-attr]  # (1,)
                old = s.rollout.log_probs[c, j].reshape(1).to(logp.device)
                ref_mean = s.ref_mean[c, j].to(logp.device)
                kl = (
                    kl_to_reference(rpo.kl_estimator, out.mean, out.std, out.prev_sample, logp, ref_mean)
                    if rpo.kl_beta > 0
                    else None
                )
                a = adv[c].reshape(1).to(logp.device)
                loss, m = rpo_loss(logp, old, a, kl, rpo.clip_range, rpo.kl_beta, rpo.adv_clip)
                (loss.sum() * scale).backward()
            w.terms += 1
            w.loss_sum += float(loss.detach().sum())
            w.policy_sum += m["policy_loss"]
            w.kl_sum += m["kl"]
            w.kl_ref_sum += float(closed_form_kl(out.mean.detach(), ref_mean, out.std).mean())
            w.ratio_sum += m["ratio_mean"]
            w.clip_sum += m["clip_frac"]
            w.approx_kl_sum += m["approx_kl"]


def _advantages(result: JudgeResult, K: int, w: WindowStats) -> Tensor:
    w.samples += K
    outcome = result.outcome
    if outcome == "decided" and len(result.rewards) != K:
        log.warning("judge returned %d rewards for %d candidates; treated as failed", len(result.rewards), K)
        outcome = "failed"
    setattr(w, outcome, getattr(w, outcome) + 1)
    if result.agreement is not None:
        w.agree_n += 1
        w.agree_yes += float(bool(result.agreement))
    w.cached += float(result.cached)
    if outcome != "decided":
        return torch.zeros(K)
    adv = torch.tensor(result.rewards, dtype=torch.float32)
    w.reward_sum += float(adv.sum())
    return adv
