"""Tie a process's life to its parent's: no worker outlives the run that started it.

torchrun starts every worker in a new session, so killing torchrun's process group misses them, and
a controller killed with SIGKILL runs no cleanup at all. Each link of the chain therefore watches its
own parent: ``arr`` -> launcher (torchrun) -> workers. On Linux the kernel delivers a signal when the
parent dies (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread also notices the re-parenting
(``getppid()`` changes) and ends the process. Both fire within about a second, whatever killed the
parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
POLL_S = 0.5


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    return False


def _end(sig: int) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(10 * POLL_S)  # a handler for ``sig`` may clean up first, but not forever
    os._exit(128 + int(sig))


def bind_to_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """End this process with ``sig`` as soon as ``parent`` (the pid that started it) is gone."""
    _set_parent_death_signal(sig)
    if os.getppid() != parent:  # it died before the kernel was told to watch it
        _end(sig)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        _end(sig)

    threading.Thread(target=watch, name="arr-lifeline", daemon=True).start()


def bind_from_env(variable: str, sig: int = signal.SIGKILL) -> bool:
    """:func:`bind_to_parent` to the pid in ``variable`` when set (launched by arr); False otherwise."""
    value = os.environ.get(variable, "")
    if not value.isdigit():
        return False
    bind_to_parent(int(value), sig)
    return True
