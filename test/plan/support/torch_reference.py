"""Reference figures from the real libraries for test/plan (argv[1]: a JSON request, stdout: JSON).

- ``grids``: [[h, w], ...] -> per folder of ``processor_dirs`` (each holding a preprocessor_config.json),
  the image_grid_thw the Qwen-VL image processor built offline from it computes for an h x w image;
- ``flops``: [{family, config, grid, text}, ...] -> FlopCounterMode FLOPs of one forward of the
  diffusers transformer built from ``config`` (random weights, CPU, batch 1), with the math SDPA
  backend so that attention is counted; ``grid`` is the packed image side (FLUX) or the side of the
  target and of the source (Qwen-Image edit layout).
"""

import json
import sys

import torch


def grids(processor_dir, sizes):
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    processor = Qwen2VLImageProcessorPil.from_pretrained(processor_dir)
    out = []
    for h, w in sizes:
        thw = processor(images=[Image.new("RGB", (w, h))], return_tensors="np")["image_grid_thw"][0]
        out.append([int(v) for v in thw])
    return out


def flops(case):
    from diffusers import FluxTransformer2DModel, QwenImageTransformer2DModel
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    g, text = case["grid"], case["text"]
    cfg = case["config"]
    if case["family"] == "flux":
        model = FluxTransformer2DModel(**cfg).eval()
        ids = torch.zeros(g * g, 3)
        ids[:, 1] = torch.arange(g).repeat_interleave(g)
        ids[:, 2] = torch.arange(g).repeat(g)
        inputs = {
            "hidden_states": torch.randn(1, g * g, cfg["in_channels"]),
            "encoder_hidden_states": torch.randn(1, text, cfg["joint_attention_dim"]),
            "pooled_projections": torch.randn(1, cfg["pooled_projection_dim"]),
            "img_ids": ids,
            "txt_ids": torch.zeros(text, 3),
            "guidance": torch.full((1,), 3.5),
        }
    else:
        model = QwenImageTransformer2DModel(**cfg).eval()
        inputs = {
            "hidden_states": torch.randn(1, 2 * g * g, cfg["in_channels"]),
            "encoder_hidden_states": torch.randn(1, text, cfg["joint_attention_dim"]),
            "encoder_hidden_states_mask": torch.ones(1, text, dtype=torch.long),
            "img_shapes": [[(1, g, g), (1, g, g)]],
        }
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(timestep=torch.full((1,), 0.5), return_dict=False, **inputs)
    return counter.get_total_flops()


request = json.loads(sys.argv[1])
result = {}
if "grids" in request:
    result["grids"] = [grids(folder, request["grids"]) for folder in request["processor_dirs"]]
if "flops" in request:
    result["flops"] = [flops(case) for case in request["flops"]]
print(json.dumps(result))
