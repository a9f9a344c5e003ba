"""autorubric runtime: flow-matching SDE sampling with log-probs, the RPO loss, LoRA and model adapters.

Modules are imported lazily by their users; importing the package itself stays cheap.
"""

__version__ = "0.1.0"
