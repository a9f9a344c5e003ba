"""The tracker process as ``arr train`` runs it: JSON lines on stdin, files read back with the trackers' own readers."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from autorubric_runtime.run_config import RunConfigError
from autorubric_runtime.tracking import load_tracking_config

RUNTIME = Path(__file__).resolve().parents[1]


def write_config(run: Path, trackers: list[str]) -> Path:
    path = run / "tracking.json"
    payload = {
        "trackers": trackers,
        "tensorboard_dir": str(run / "tensorboard"),
        "wandb": {"project": "arr-test", "entity": None, "name": run.name, "id": "arrtest01", "dir": str(run)},
        "config": {"run": {"name": run.name}, "train": {"optim": {"lr": 0.003}}},
    }
    path.write_text(json.dumps(payload))
    return path


def session(
    config: Path, messages: list[dict[str, Any]], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """One tracker process fed ``messages``; it exits when stdin closes."""
    return subprocess.run(
        [sys.executable, "-m", "autorubric_runtime.tracking", "--config", str(config)],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(RUNTIME), **(env or {})},
        check=False,
    )


def scalars(step: int, scale: float = 1.0) -> dict[str, Any]:
    return {"kind": "scalars", "step": step, "values": {"policy/kl": 0.01 * step * scale, "judge/tie": float(step % 2)}}


def grid(run: Path, step: int) -> dict[str, Any]:
    path = run / f"grid-{step}.png"
    Image.fromarray(np.full((16, 24, 3), 40 * step, dtype=np.uint8)).save(path)
    return {"kind": "image", "step": step, "tag": "eval/grid", "path": str(path)}


def read_back(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_tensorboard_scalars_and_grids_one_point_per_update_across_a_resume(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["tensorboard"])
    # Session 1 logs updates 1..3 and an eval grid at 2, then stops; its checkpoint was at update 2.
    first = session(config, [scalars(1), scalars(2), grid(tmp_path, 2), scalars(3)])
    assert first.returncode == 0, first.stderr
    # Session 2 resumes from update 2: update 3 is redone (different values), then 4 with a grid.
    second = session(config, [{"kind": "rewind", "step": 3}, scalars(3, 10), scalars(4, 10), grid(tmp_path, 4)])
    assert second.returncode == 0, second.stderr

    acc = read_back(tmp_path / "tensorboard")
    assert sorted(acc.Tags()["scalars"]) == ["judge/tie", "policy/kl"]
    kl = [(e.step, round(e.value, 6)) for e in acc.Scalars("policy/kl")]
    assert kl == [(1, 0.01), (2, 0.02), (3, 0.3), (4, 0.4)]
    assert [e.step for e in acc.Scalars("judge/tie")] == [1, 2, 3, 4]
    images = acc.Images("eval/grid")
    assert [(e.step, e.width, e.height) for e in images] == [(2, 24, 16), (4, 24, 16)]


def test_wandb_offline_resumes_the_same_run_and_never_writes_the_key(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    key = "arrkey" + secrets.token_hex(17)  # 40 characters, the shape of a real W&B key
    env = {"WANDB_MODE": "offline", "WANDB_API_KEY": key, "WANDB_DIR": str(tmp_path)}
    config = write_config(tmp_path, ["wandb"])
    runs = []
    for messages in ([scalars(1), grid(tmp_path, 1)], [{"kind": "rewind", "step": 2}, scalars(2)]):
        done = session(config, messages, env)
        assert done.returncode == 0, done.stderr
        assert key not in done.stdout + done.stderr
        runs.append(done)
    offline = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and all(p.name.endswith("-arrtest01") for p in offline)
    assert all(any(p.glob("*.wandb")) for p in offline)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_a_config_without_the_run_config_is_refused_naming_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["tensorboard"])
    data = json.loads(config.read_text())
    del data["config"]
    config.write_text(json.dumps(data))
    with pytest.raises(RunConfigError, match=r"tracking\.json: missing key config"):
        load_tracking_config(config)
