"""Model adapters: one module per family behind the protocol in ``base.py``."""

from autorubric_runtime.models.base import Condition, ModelAdapter, load_adapter

__all__ = ["Condition", "ModelAdapter", "load_adapter"]
