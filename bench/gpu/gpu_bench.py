"""GPU benchmark for one H200: FLUX.1-dev and Qwen-Image transformers at their published sizes.

Nothing is downloaded: both transformers are built from the config values of their published
``transformer/config.json`` (written below) with random weights in bf16. Per model and resolution:

* sampling: one candidate = S transformer forwards (batch 1, no grad; S = 8 FLUX, 10 Qwen), timed;
* training: one RPO transition = a no-grad reference forward + a forward/backward with LoRA and
  gradient checkpointing; a few are timed and one outer step (2 candidates x (S - 1) transitions +
  one AdamW step) is computed from their mean (said so in the output);
* peak memory, FLOPs counted with ``torch.utils.flop_counter`` on one forward / one forward+backward,
  achieved TFLOP/s against this card's measured bf16 matmul rate (8192^3, timed here).

Qwen runs the edit layout RPO trains (target tokens + one source image's tokens of the same size).
``--tiny`` runs the same logic with tiny configs on CPU in fp32 (a check that the script works).
Writes ``results.json`` to ``--out`` and a line per case to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("gpu_bench")

# transformer/config.json of black-forest-labs/FLUX.1-dev
FLUX_DEV = {
    "patch_size": 1,
    "in_channels": 64,
    "num_layers": 19,
    "num_single_layers": 38,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "pooled_projection_dim": 768,
    "guidance_embeds": True,
    "axes_dims_rope": [16, 56, 56],
}
# transformer/config.json of Qwen/Qwen-Image (Qwen-Image-Edit-2509 uses the same transformer)
QWEN_IMAGE = {
    "patch_size": 2,
    "in_channels": 64,
    "out_channels": 16,
    "num_layers": 60,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 3584,
    "guidance_embeds": False,
    "axes_dims_rope": [16, 56, 56],
}
TINY_FLUX = {
    "patch_size": 1,
    "in_channels": 16,
    "num_layers": 1,
    "num_single_layers": 1,
    "attention_head_dim": 16,
    "num_attention_heads": 2,
    "joint_attention_dim": 32,
    "pooled_projection_dim": 32,
    "guidance_embeds": True,
    "axes_dims_rope": [4, 4, 8],
}
TINY_QWEN = {
    "patch_size": 2,
    "in_channels": 16,
    "out_channels": 4,
    "num_layers": 2,
    "attention_head_dim": 16,
    "num_attention_heads": 3,
    "joint_attention_dim": 16,
    "guidance_embeds": False,
    "axes_dims_rope": [8, 4, 4],
}
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]  # the reference release's targets


@dataclass
class Case:
    model: str
    size: int
    steps: int
    lora_rank: int
    text_tokens: int
    image_tokens: int
    status: str = "ok"
    sampling_s_per_candidate: float | None = None
    forward_s: float | None = None
    forward_tflop: float | None = None
    forward_tflops_achieved: float | None = None
    transition_s: float | None = None
    transition_tflop: float | None = None
    transition_tflops_achieved: float | None = None
    optimizer_step_s: float | None = None
    train_step_s: float | None = None
    train_step_note: str = ""
    peak_memory_gib_sampling: float | None = None
    peak_memory_gib_training: float | None = None
    timed_transitions: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, reps: int) -> float:
    """Measured dense matmul TFLOP/s on random data (mean of `reps` after 3 warm-ups)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    dt = (time.perf_counter() - t0) / reps
    return 2 * n**3 / dt / 1e12


def build(model: str, tiny: bool, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    from diffusers import FluxTransformer2DModel, QwenImageTransformer2DModel

    cfg = (TINY_FLUX if tiny else FLUX_DEV) if model == "flux" else (TINY_QWEN if tiny else QWEN_IMAGE)
    cls = FluxTransformer2DModel if model == "flux" else QwenImageTransformer2DModel
    # Parameters are created directly on the device in the target dtype: a 20B model built in
    # fp32 on the host first would need 80 GB of RAM and minutes of initialisation.
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            m = cls(**cfg)
    finally:
        torch.set_default_dtype(prev)
    return m.to(device=device, dtype=dtype)


def make_inputs(model: str, m: torch.nn.Module, size: int, text_tokens: int, device, dtype) -> dict[str, Any]:
    """Batch-1 inputs for a size x size image (VAE factor 8, 2x2 packing: size/16 per side)."""
    g = size // 16
    L = g * g
    cfg = m.config
    if model == "flux":
        ids = torch.zeros(L, 3, device=device)
        ids[:, 1] = torch.arange(g, device=device).repeat_interleave(g)
        ids[:, 2] = torch.arange(g, device=device).repeat(g)
        return {
            "hidden_states": torch.randn(1, L, cfg.in_channels, device=device, dtype=dtype),
            "encoder_hidden_states": torch.randn(1, text_tokens, cfg.joint_attention_dim, device=device, dtype=dtype),
            "pooled_projections": torch.randn(1, cfg.pooled_projection_dim, device=device, dtype=dtype),
            "img_ids": ids,
            "txt_ids": torch.zeros(text_tokens, 3, device=device),
            "guidance": torch.full((1,), 3.5, device=device, dtype=dtype),
            "return_dict": False,
        }
    # edit layout: noisy target tokens followed by the source image's tokens
    return {
        "hidden_states": torch.randn(1, 2 * L, cfg.in_channels, device=device, dtype=dtype),
        "encoder_hidden_states": torch.randn(1, text_tokens, cfg.joint_attention_dim, device=device, dtype=dtype),
        "encoder_hidden_states_mask": torch.ones(1, text_tokens, device=device, dtype=torch.long),
        "img_shapes": [[(1, g, g), (1, g, g)]],
        "return_dict": False,
    }


def forward(m: torch.nn.Module, inputs: dict[str, Any], sigma: float, device, dtype) -> torch.Tensor:
    t = torch.full((1,), sigma, device=device, dtype=dtype)
    return m(timestep=t, **inputs)[0]


def count_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return float(fc.get_total_flops())


def gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def run_model(args, model: str, device, dtype, rate_tflops: float, deadline: float, out: list[Case]) -> None:
    steps = 8 if model == "flux" else 10
    text_tokens = args.text_tokens_flux if model == "flux" else args.text_tokens_qwen
    sizes = args.sizes
    t_build = time.perf_counter()
    m = build(model, args.tiny, device, dtype)
    n_params = sum(p.numel() for p in m.parameters())
    log.info("%s: built %.2fB params in %.1f s", model, n_params / 1e9, time.perf_counter() - t_build)
    m.enable_gradient_checkpointing()
    from peft import LoraConfig

    for size in sizes:
        inputs = make_inputs(model, m, size, text_tokens, device, dtype)
        L = inputs["hidden_states"].shape[1]
        # ---- sampling (no LoRA: an untrained adapter is a no-op, and its cost is small)
        base = Case(model, size, steps, 0, text_tokens, L)
        if time.perf_counter() > deadline:
            base.status = "skipped: time budget"
            out.append(base)
            continue
        try:
            m.eval()
            reset_peak(device)
            with torch.no_grad():
                forward(m, inputs, 1.0, device, dtype)  # warm-up
                sync(device)
                t0 = time.perf_counter()
                x = inputs["hidden_states"]
                for i in range(steps):
                    sigma = 1.0 - i / steps
                    v = forward(m, {**inputs, "hidden_states": x}, sigma, device, dtype)
                    if model == "qwen":
                        v = torch.cat([v[:, : L // 2], torch.zeros_like(v[:, : L // 2])], dim=1)
                    x = x - v * (1.0 / steps)
                sync(device)
                base.sampling_s_per_candidate = time.perf_counter() - t0
                base.forward_s = base.sampling_s_per_candidate / steps
                base.forward_tflop = count_flops(lambda: forward(m, inputs, 0.5, device, dtype)) / 1e12
            base.forward_tflops_achieved = base.forward_tflop / base.forward_s
            base.peak_memory_gib_sampling = gib(device)
        except Exception as exc:  # noqa: BLE001 - one failing case must not lose the others
            base.status, base.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("%s %d sampling failed", model, size)
        out.append(base)
        log.info("%s", json.dumps(asdict(base)))

        # ---- training, per LoRA rank
        for rank in args.ranks:
            c = Case(model, size, steps, rank, text_tokens, L)
            c.forward_s, c.forward_tflop = base.forward_s, base.forward_tflop
            if time.perf_counter() > deadline:
                c.status = "skipped: time budget"
                out.append(c)
                continue
            name = f"r{rank}"
            try:
                m.add_adapter(LoraConfig(r=rank, lora_alpha=2 * rank, init_lora_weights="gaussian", target_modules=LORA_TARGETS), adapter_name=name)
                m.set_adapter(name)
                m.train()
                params = [p for p in m.parameters() if p.requires_grad]
                opt = torch.optim.AdamW(params, lr=1e-5)
                c.extra["lora_params_m"] = sum(p.numel() for p in params) / 1e6
                reset_peak(device)

                def transition() -> None:
                    with torch.no_grad():  # reference pass (the real one scales LoRA to zero)
                        forward(m, inputs, 0.5, device, dtype)
                    v = forward(m, inputs, 0.5, device, dtype)
                    v.float().pow(2).mean().backward()

                transition()  # warm-up
                sync(device)
                n = args.transitions
                t0 = time.perf_counter()
                for _ in range(n):
                    transition()
                sync(device)
                c.transition_s = (time.perf_counter() - t0) / n
                c.timed_transitions = n
                t0 = time.perf_counter()
                opt.step()
                opt.zero_grad(set_to_none=True)
                sync(device)
                c.optimizer_step_s = time.perf_counter() - t0
                c.peak_memory_gib_training = gib(device)
                c.transition_tflop = count_flops(transition) / 1e12
                c.transition_tflops_achieved = c.transition_tflop / c.transition_s
                per_step = 2 * (steps - 1)
                c.train_step_s = per_step * c.transition_s + c.optimizer_step_s
                c.train_step_note = f"{per_step} transitions x mean of {n} timed + 1 AdamW step"
                opt.zero_grad(set_to_none=True)
                del opt, params
            except Exception as exc:  # noqa: BLE001
                c.status, c.error = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("%s %d r%d training failed", model, size, rank)
            finally:
                try:
                    m.delete_adapters(name)
                except Exception:  # noqa: BLE001 - adapter may not exist after a failure
                    pass
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            out.append(c)
            log.info("%s", json.dumps(asdict(c)))
        del inputs
    del m
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="FLUX.1-dev / Qwen-Image transformer benchmark (random bf16 weights)")
    ap.add_argument("--tiny", action="store_true", help="tiny configs on CPU in fp32 (logic check)")
    ap.add_argument("--out", default="bench-gpu-out")
    ap.add_argument("--models", default="flux,qwen")
    ap.add_argument("--sizes", default=None, help="comma list (default 512,1024; tiny 64,128)")
    ap.add_argument("--ranks", default="16,32")
    ap.add_argument("--transitions", type=int, default=3, help="timed training transitions per case")
    ap.add_argument("--text-tokens-flux", type=int, default=512, help="T5 sequence length (FLUX max 512)")
    ap.add_argument("--text-tokens-qwen", type=int, default=256, help="instruction + vision tokens (assumed)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="skip remaining cases after this many seconds")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    args.sizes = [int(s) for s in (args.sizes or ("64,128" if args.tiny else "512,1024")).split(",")]
    args.ranks = [int(r) for r in args.ranks.split(",")]
    if args.tiny:
        args.text_tokens_flux = min(args.text_tokens_flux, 16)
        args.text_tokens_qwen = min(args.text_tokens_qwen, 16)
    t_start = time.perf_counter()
    deadline = t_start + args.budget_s
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
    else:
        if not torch.cuda.is_available():
            log.error("no CUDA device; use --tiny for a CPU logic check")
            return 2
        device, dtype = torch.device("cuda"), torch.bfloat16
        torch.backends.cuda.matmul.allow_tf32 = True
    rate = matmul_rate(device, dtype, 256 if args.tiny else 8192, 3 if args.tiny else 10)
    log.info("measured %s matmul rate: %.1f TFLOP/s", dtype, rate)
    env: dict[str, Any] = {"torch": torch.__version__, "device": str(device), "dtype": str(dtype)}
    try:
        import diffusers
        import peft

        env["diffusers"], env["peft"] = diffusers.__version__, peft.__version__
    except ImportError as exc:
        log.error("diffusers/peft missing: %s (see bench/gpu/README.md: carry the wheels)", exc)
        return 2
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["gpu_memory_gib"] = torch.cuda.get_device_properties(device).total_memory / 2**30
    cases: list[Case] = []
    for model in args.models.split(","):
        try:
            run_model(args, model, device, dtype, rate, deadline, cases)
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory while building
            log.exception("%s failed", model)
            cases.append(Case(model, 0, 0, 0, 0, 0, status="failed", error=f"{type(exc).__name__}: {exc}"))
    for c in cases:
        for k in ("forward_tflops_achieved", "transition_tflops_achieved"):
            v = getattr(c, k)
            if v is not None:
                c.extra[k.replace("_achieved", "_share_of_matmul")] = v / rate if rate > 0 and math.isfinite(v) else None
    result = {
        "tiny": args.tiny,
        "env": env,
        "matmul_tflops_measured": rate,
        "wall_s": time.perf_counter() - t_start,
        "cases": [asdict(c) for c in cases],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2))
    log.info("wrote %s in %.0f s", out / "results.json", result["wall_s"])
    return 0 if all(c.status != "failed" for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
