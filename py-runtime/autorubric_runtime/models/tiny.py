"""Offline tiny models: built once per family and seed, cached as diffusers folders.

Nothing is downloaded. ``ensure_tiny(family)`` builds the folder once (deterministic for a seed) in
``$ARR_CACHE/tiny-<family>`` (default ``py-runtime/.cache``) and the adapters load it with the same
``from_pretrained`` code as a real checkpoint. The recipes live in ``tiny_flux.py`` and
``tiny_qwen_edit.py``; they import no adapter module, so loading an adapter never goes in a circle.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from autorubric_runtime.models.tiny_flux import build_tiny_flux
from autorubric_runtime.models.tiny_qwen_edit import TinyQwenEditSpec, save_tiny_qwen_edit

log = logging.getLogger(__name__)

TINY_FORMAT_VERSION = 2  # bump whenever the built weights change (invalidates caches)


def cache_root() -> Path:
    env = os.environ.get("ARR_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".cache"


def _build_tiny_qwen_edit(out_dir: Path, seed: int = 0) -> None:
    save_tiny_qwen_edit(out_dir, TinyQwenEditSpec(seed=seed))


#: family -> builder writing a from_pretrained-loadable folder for a seed.
BUILDERS: dict[str, Callable[[Path, int], None]] = {"flux": build_tiny_flux, "qwen-edit": _build_tiny_qwen_edit}


@contextlib.contextmanager
def _preserve_host_rngs() -> Iterator[None]:
    """Restores Python's and NumPy's global RNG states on exit (torch's are forked separately)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def ensure_tiny(family: str, cache_dir: str | Path | None = None, seed: int = 0) -> Path:
    """The tiny model folder of ``family``, built on first use (atomic: a partial build is never used)."""
    if family not in BUILDERS:
        raise ValueError(f"train.model.family: no tiny model for {family!r}; use one of {sorted(BUILDERS)}")
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    safe = re.sub(r"[^a-z0-9-]", "-", family.lower())
    out = root / f"tiny-{safe}-v{TINY_FORMAT_VERSION}-s{seed}"
    stamp = out / "autorubric_tiny.json"
    if stamp.is_file():
        return out
    tmp = root / f".{out.name}.{os.getpid()}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    # Building seeds and draws from the global RNGs; the caller's streams (LoRA init, sampling) must
    # not depend on whether the cache already existed, or a first run differs from every later one.
    with torch.random.fork_rng(devices=[]), _preserve_host_rngs():
        BUILDERS[family](tmp, seed)
    (tmp / "autorubric_tiny.json").write_text(
        json.dumps({"family": family, "seed": seed, "version": TINY_FORMAT_VERSION})
    )
    try:
        tmp.rename(out)
    except OSError:
        # another process won the race; theirs is complete (the stamp is written before the rename)
        shutil.rmtree(tmp, ignore_errors=True)
        if not stamp.is_file():
            raise
    log.info("built tiny %s model in %s", family, out)
    return out
