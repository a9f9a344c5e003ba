"""Rewards for the trainer: the reward-service client (protocol v1) and an in-process interface.

The trainer talks to a :class:`RewardFn`: ``submit`` a candidate set as soon as it is sampled and
get a handle back at once, ``result`` later. The judge works while the trainer runs reference passes
and samples further prompts. :class:`ServiceReward` implements it over HTTP
(``docs/ARCHITECTURE.md``, "Reward service protocol"); :class:`LocalReward` runs a plain Python
function in process (tests, deterministic stand-ins).

Stdlib only (urllib): connection errors are retried with a bounded time budget; a 401 is an
:class:`AuthError` at once, because retrying a wrong token only delays the message.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from torch import Tensor

PROTOCOL_VERSION = 1

log = logging.getLogger("autorubric_runtime.reward")

Outcome = Literal["decided", "tie", "invalid", "failed"]


@dataclass
class JudgeRequest:
    """One prompt's candidates, as sampled."""

    worker_rank: int  # the process that sampled it (the protocol's "rank")
    step: int  # the optimizer update this sample belongs to (0-based: updates done before it)
    index: int  # position of the prompt in this rank's stream for this step
    prompt: str
    images: list[str]  # absolute PNG paths (empty for in-process rewards that read ``pixels``)
    source_image: str | None = None
    pixels: Tensor | None = None  # (K, 3, H, W) in [0, 1], K candidates; never sent over HTTP


@dataclass
class JudgeResult:
    outcome: Outcome
    rewards: list[float]
    agreement: bool | None = None
    cached: bool = False


class RewardFn(Protocol):
    """What the trainer needs from a judge."""

    def submit(self, request: JudgeRequest) -> Any:
        """Start judging; returns a handle at once (must not wait for the verdict)."""
        ...

    def result(self, handle: Any) -> JudgeResult:
        """Block until the verdict for ``handle`` is in."""
        ...


class LocalReward:
    """A :class:`RewardFn` over a synchronous function (evaluated lazily, at ``result``)."""

    def __init__(self, fn: Callable[[JudgeRequest], JudgeResult]) -> None:
        self.fn = fn

    def submit(self, request: JudgeRequest) -> JudgeRequest:
        return request

    def result(self, handle: JudgeRequest) -> JudgeResult:
        return self.fn(handle)


def brightness_reward(win: float = 1.0, lose: float = -0.1) -> Callable[[JudgeRequest], JudgeResult]:
    """A deterministic pairwise judge: the brighter image wins (mean over pixels); equal is a tie."""

    def judge(request: JudgeRequest) -> JudgeResult:
        if request.pixels is None:
            raise ValueError("brightness_reward needs the decoded pixels in the request")
        means = request.pixels.float().mean(dim=(1, 2, 3)).tolist()
        if len(set(means)) == 1:
            return JudgeResult("tie", [0.0] * len(means))
        order = sorted(range(len(means)), key=lambda i: -means[i])
        n = len(means)
        rewards = [0.0] * n
        for place, i in enumerate(order):  # the N-way linear map (place 0 = best); 2 candidates give win/lose exactly
            rewards[i] = win + (lose - win) * place / (n - 1)
        return JudgeResult("decided", rewards)

    return judge


class ServiceError(RuntimeError):
    """The reward service answered with an error, or could not be reached within the retry budget."""


class AuthError(ServiceError):
    """The reward service refused the bearer token (401)."""


@dataclass
class ServiceClient:
    """HTTP client for the reward service protocol v1 (stdlib urllib)."""

    url: str
    token: str
    worker_rank: int = 0
    retry_budget_s: float = 60.0  # total time spent retrying connection errors per request
    timeout_s: float = 60.0  # per attempt; long polls add their wait on top
    poll_wait_ms: int = 20_000
    _sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def _request(
        self, method: str, path: str, body: dict[str, Any] | bytes | None = None, wait_s: float = 0.0
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if isinstance(body, bytes):
            data: bytes | None = body
            headers["Content-Type"] = "image/png"
        else:
            data = None if body is None else json.dumps(body).encode("utf8")
            if data is not None:
                headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + self.retry_budget_s
        delay = 0.25
        while True:
            req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s + wait_s) as resp:
                    raw = resp.read()
                    return resp.status, (json.loads(raw) if raw else None)
            except urllib.error.HTTPError as error:
                detail = error.read().decode("utf8", "replace")[:500]
                if error.code == 401:
                    raise AuthError(
                        f"the reward service at {self.url} refused the token (401) on {method} {path}; the worker "
                        "takes it from ARR_SERVICE_TOKEN (or service.token in run.json): start workers through `arr train`"
                    ) from None
                if error.code >= 500 and time.monotonic() < deadline:
                    log.warning("reward service %s %s -> %d, retrying: %s", method, path, error.code, detail)
                else:
                    raise ServiceError(f"reward service {method} {path} -> HTTP {error.code}: {detail}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
                if time.monotonic() >= deadline:
                    raise ServiceError(
                        f"reward service at {self.url} unreachable for {self.retry_budget_s:.0f}s "
                        f"({method} {path}): {error}"
                    ) from None
                log.warning("reward service %s %s failed (%s); retrying", method, path, error)
            self._sleep(delay)
            delay = min(delay * 2, 5.0)

    def submit(self, request: JudgeRequest) -> str:
        """POST /v1/judge -> the judgement id (202)."""
        body = {
            "protocol": PROTOCOL_VERSION,
            "rank": request.worker_rank,
            "step": request.step,
            "index": request.index,
            "prompt": request.prompt,
            "source_image": request.source_image,
            "images": list(request.images),
        }
        _, reply = self._request("POST", "/v1/judge", body)
        if not isinstance(reply, dict) or not isinstance(reply.get("id"), str):
            raise ServiceError(f"reward service POST /v1/judge: no id in reply {reply!r}")
        return reply["id"]

    def wait(self, judgement_id: str) -> JudgeResult:
        """Long-poll GET /v1/judge/<id> until done."""
        while True:
            _, reply = self._request(
                "GET", f"/v1/judge/{judgement_id}?wait_ms={self.poll_wait_ms}", wait_s=self.poll_wait_ms / 1000
            )
            if not isinstance(reply, dict):
                raise ServiceError(f"reward service GET /v1/judge/{judgement_id}: unexpected reply {reply!r}")
            if reply.get("status") == "done":
                outcome = reply.get("outcome")
                if outcome not in ("decided", "tie", "invalid", "failed"):
                    raise ServiceError(f"reward service: unknown outcome {outcome!r} for {judgement_id}")
                rewards = [float(r) for r in reply.get("rewards") or []]
                return JudgeResult(outcome, rewards, reply.get("agreement"), bool(reply.get("cached", False)))
            if reply.get("status") != "pending":
                raise ServiceError(f"reward service GET /v1/judge/{judgement_id}: unexpected reply {reply!r}")

    def upload_sample(self, path: Path) -> str:
        """PUT /v1/samples/<name>: a copy for the judge on node 0; returns the path it is judged from there."""
        _, reply = self._request("PUT", f"/v1/samples/{path.name}", path.read_bytes())
        if not isinstance(reply, dict) or not isinstance(reply.get("path"), str):
            raise ServiceError(f"reward service PUT /v1/samples/{path.name}: no path in reply {reply!r}")
        return reply["path"]

    def delete_sample(self, name: str) -> None:
        """DELETE /v1/samples/<name>: node 0's copy of a sample whose verdicts are all in."""
        self._request("DELETE", f"/v1/samples/{name}")

    def post_metrics(self, step: int, metrics: dict[str, float | int | str | bool | None]) -> None:
        self._request("POST", "/v1/metrics", {"rank": self.worker_rank, "step": step, "metrics": metrics})

    def post_event(self, kind: str, data: dict[str, Any] | None = None) -> None:
        self._request("POST", "/v1/event", {"rank": self.worker_rank, "kind": kind, "data": data or {}})

    def control(self) -> tuple[bool, str | None]:
        """GET /v1/control -> (stop, reason)."""
        _, reply = self._request("GET", "/v1/control")
        if not isinstance(reply, dict):
            raise ServiceError(f"reward service GET /v1/control: unexpected reply {reply!r}")
        return bool(reply.get("stop", False)), reply.get("reason")


class ServiceReward:
    """A :class:`RewardFn` over the reward service."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def submit(self, request: JudgeRequest) -> str:
        return self.client.submit(request)

    def result(self, handle: str) -> JudgeResult:
        return self.client.wait(handle)
