"""Experiment trackers: ``python -m autorubric_runtime.tracking --config <run>/tracking.json``.

The training controller (TypeScript) owns this process, not a worker rank: the controller is the one
place that sees every figure of an update together, namely rank 0's reduced metrics, the judge's
outcome counts, the VLM calls/tokens/cost and the win rate over the base that the controller
measures at each ``eval_every``. It streams them here as JSON lines on stdin:

- ``{"kind": "scalars", "step": int, "values": {tag: number}}``
- ``{"kind": "image", "step": int, "tag": str, "path": str}`` (a PNG file, e.g. an eval grid)
- ``{"kind": "rewind", "step": int}``: the workers (re)started from a checkpoint and redo updates
  from ``step`` on

and closes stdin at the end of the run. Writing goes through the trackers' own libraries
(tensorboardX for TensorBoard event files, ``wandb``), so the files are whatever those tools read.

Resume continues the same tracker runs: the same TensorBoard directory, reopened with ``purge_step``
at the first update redone (events an interrupted session wrote past its last checkpoint are
discarded when read), and the same W&B run id with ``resume="allow"`` (W&B has no purge offline: the
redone updates appear twice there). W&B logs every row with its ``update`` as the
x axis instead of W&B's own step, because the win rate of update N arrives after the metrics of
later updates (it is judged while training goes on) and W&B drops steps that go backwards.

Logs go to stderr; stdout stays unused.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Protocol

from autorubric_runtime.run_config import RunConfigError, TrackingCfg, WandbCfg, parse_payload

log = logging.getLogger("autorubric_runtime.tracking")


class Tracker(Protocol):
    def scalars(self, step: int, values: dict[str, float]) -> None: ...
    def image(self, step: int, tag: str, path: str) -> None: ...
    def rewind(self, step: int) -> None: ...
    def close(self) -> None: ...


class TensorBoardTracker:
    """Event files in one directory; the writer opens on first use, so a rewind can set its purge step."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.purge_step: int | None = None
        self._writer: Any = None
        self._opened = 0

    @property
    def writer(self) -> Any:
        if self._writer is None:
            from tensorboardX import SummaryWriter

            # File names carry the time in whole seconds: pid and count keep two writers apart.
            self._opened += 1
            self._writer = SummaryWriter(
                logdir=self.log_dir, purge_step=self.purge_step, filename_suffix=f".{os.getpid()}.{self._opened}"
            )
        return self._writer

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, global_step=step)
        self.writer.flush()

    def image(self, step: int, tag: str, path: str) -> None:
        self.writer.add_image(tag, _rgb(path), global_step=step, dataformats="HWC")
        self.writer.flush()

    def rewind(self, step: int) -> None:
        self.close()
        self.purge_step = step

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class WandbTracker:
    def __init__(self, cfg: WandbCfg, config: dict[str, Any]) -> None:
        import wandb

        Path(cfg.dir).mkdir(parents=True, exist_ok=True)
        self.wandb = wandb
        # console="off": W&B would otherwise capture this process's output into the run's files.
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            name=cfg.name,
            id=cfg.id,
            resume="allow",
            dir=cfg.dir,
            config=config,
            settings=wandb.Settings(console="off", silent=True),
        )
        self.run.define_metric("update")
        self.run.define_metric("*", step_metric="update")

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self.run.log({**values, "update": step})

    def image(self, step: int, tag: str, path: str) -> None:
        self.run.log({tag: self.wandb.Image(path), "update": step})

    def rewind(self, step: int) -> None:
        pass  # the same run id continues; W&B offline cannot drop the points past the checkpoint

    def close(self) -> None:
        self.run.finish()


def _rgb(path: str) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def open_trackers(cfg: TrackingCfg) -> list[Tracker]:
    trackers: list[Tracker] = []
    for name in cfg.trackers:
        if name == "tensorboard":
            trackers.append(TensorBoardTracker(cfg.tensorboard_dir))
        else:
            trackers.append(WandbTracker(cfg.wandb, cfg.config))
    return trackers


def dispatch(trackers: list[Tracker], line: str) -> None:
    """Apply one message line to every tracker (a malformed line is a bug on the TypeScript side)."""
    message = json.loads(line)
    kind, step = message["kind"], int(message["step"])
    if kind == "image" and not Path(message["path"]).is_file():
        log.warning("image %s of update %d is gone; not logged", message["path"], step)
        return
    for tracker in trackers:
        if kind == "scalars":
            tracker.scalars(step, {str(k): float(v) for k, v in message["values"].items()})
        elif kind == "image":
            tracker.image(step, str(message["tag"]), str(message["path"]))
        elif kind == "rewind":
            tracker.rewind(step)
        else:
            raise ValueError(f"unknown tracker message kind {kind!r}")


def load_tracking_config(path: str | Path) -> TrackingCfg:
    path = Path(path)
    try:
        return parse_payload(TrackingCfg, json.loads(path.read_text(encoding="utf8")))
    except (OSError, json.JSONDecodeError, RunConfigError) as error:
        raise RunConfigError(f"{path}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autorubric_runtime.tracking", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="tracking.json written by `arr train`")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_tracking_config(args.config)
    except RunConfigError as error:
        log.error("%s", error)
        return 2
    trackers = open_trackers(cfg)
    try:
        for line in sys.stdin:
            if line.strip():
                dispatch(trackers, line)
    finally:
        for tracker in trackers:
            tracker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
