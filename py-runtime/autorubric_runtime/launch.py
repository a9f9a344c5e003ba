"""``python -m autorubric_runtime.launch <torchrun arguments>``: torchrun, bound to the controller's life.

``arr train`` starts torchrun through this module so that killing ``arr`` in any way (SIGKILL
included, where no cleanup runs) ends torchrun too, and torchrun's workers in turn end with it
(:mod:`autorubric_runtime.lifeline`). torchrun runs in this process, so its pid is the workers'
parent pid, passed on in ``ARR_LAUNCHER_PID``.

Restarts (``--max-restarts``): by default torchrun lends its rendezvous TCP store to the workers, and
that store outlives a failed worker group with the dead group's keys in it. gloo publishes each
rank's address under the same keys every attempt, so a restarted rank could read a dead peer's
address before the new peer overwrote it, and ``init_process_group`` failed with "connectFullMesh
... Connection refused". With the sharing turned off, every rendezvous round starts a fresh store
(hosted by the new rank 0 on a free port), so no key survives a restart.
"""

from __future__ import annotations

import os
import sys

from autorubric_runtime import lifeline

CONTROLLER_PID = "ARR_CONTROLLER_PID"
LAUNCHER_PID = "ARR_LAUNCHER_PID"


def main(argv: list[str] | None = None) -> None:
    lifeline.bind_from_env(CONTROLLER_PID)
    os.environ[LAUNCHER_PID] = str(os.getpid())
    os.environ["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] = "1"
    from torch.distributed.run import main as torchrun

    torchrun(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
