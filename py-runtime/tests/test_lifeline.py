"""A worker dies with the process that started it, however that one died (SIGKILL included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HANG_S = 120  # only catches a hang; the lifeline acts within about a second

CHILD = """
import sys, time
from autorubric_runtime import lifeline
if sys.argv[1] == "poll":
    lifeline._set_parent_death_signal = lambda sig: False  # the portable path: getppid() polling
lifeline.bind_from_env("ARR_TEST_PARENT")
open(sys.argv[2], "w").write("bound")
time.sleep(600)
"""

PARENT = """
import os, subprocess, sys, time
env = {**os.environ, "ARR_TEST_PARENT": str(os.getpid())}
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]], env=env, start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


@pytest.mark.parametrize("mode", ["pdeathsig", "poll"])
def test_a_bound_child_dies_when_its_parent_is_killed(mode: str, tmp_path: Path) -> None:
    if mode == "pdeathsig" and not sys.platform.startswith("linux"):
        pytest.skip("prctl is Linux-only")
    ready = tmp_path / "ready"
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), textwrap.dedent(CHILD), mode, str(ready)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + HANG_S
        while not ready.exists():
            assert time.monotonic() < deadline and parent.poll() is None, "the child never bound itself"
            time.sleep(0.05)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        while alive(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
        parent.stdout.close()


def test_binding_is_skipped_without_a_parent_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    from autorubric_runtime import lifeline

    monkeypatch.delenv("ARR_TEST_PARENT", raising=False)
    assert lifeline.bind_from_env("ARR_TEST_PARENT") is False
