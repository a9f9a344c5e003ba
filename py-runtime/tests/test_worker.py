"""The worker end to end against a stand-in reward service (protocol v1 over loopback HTTP)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from payloads import merge, run_data

from autorubric_runtime import worker
from autorubric_runtime.reward_client import AuthError, ServiceClient
from autorubric_runtime.run_config import parse_run_config

TOKEN = "s3cret"


class StandIn:
    """A reward service: brighter image wins; the first judgement fails; stops after ``stop_after`` metrics."""

    def __init__(self, stop_after: int = 10**9, fail_first: bool = True) -> None:
        self.stop_after = stop_after
        self.fail_next = fail_first
        self.judged: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.metrics: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.unauthorized = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, code: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    stand_in.unauthorized += 1
                    self.reply(401, {"error": "missing or wrong bearer token"})
                    return False
                return True

            def body(self) -> Any:
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")

            def do_POST(self) -> None:  # noqa: N802
                if not self.authorized():
                    return
                body, path = self.body(), urlparse(self.path).path
                if path == "/v1/judge":
                    assert body["protocol"] == 1 and len(body["images"]) == 2
                    stand_in.judged.append(body)
                    jid = f"{len(stand_in.judged):08x}"
                    stand_in.results[jid] = stand_in.judge(body["images"])
                    self.reply(202, {"id": jid})
                elif path == "/v1/metrics":
                    stand_in.metrics.append(body)
                    self.reply(204)
                elif path == "/v1/event":
                    stand_in.events.append(body)
                    self.reply(204)
                else:
                    self.reply(404, {"error": path})

            def do_GET(self) -> None:  # noqa: N802
                if not self.authorized():
                    return
                path = urlparse(self.path).path
                if path.startswith("/v1/judge/"):
                    self.reply(200, {"status": "done", **stand_in.results[path.rsplit("/", 1)[1]]})
                elif path == "/v1/control":
                    stop = len(stand_in.metrics) >= stand_in.stop_after
                    self.reply(200, {"protocol": 1, "stop": stop, "reason": "stand-in stop" if stop else None})
                else:
                    self.reply(404, {"error": path})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def judge(self, images: list[str]) -> dict[str, Any]:
        from PIL import Image

        if self.fail_next:
            self.fail_next = False
            return {"outcome": "failed", "rewards": [0.0, 0.0], "agreement": None, "cached": False}
        means = [sum(Image.open(p).convert("L").getdata()) for p in images]
        win = 0 if means[0] >= means[1] else 1
        rewards = [1.0, -0.1] if win == 0 else [-0.1, 1.0]
        return {"outcome": "decided", "rewards": rewards, "agreement": True, "cached": False}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_run(run_dir: Path, model_dir: Path, url: str, token: str = TOKEN, **overrides: Any) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    prompts = ["a red cat", "a blue dog", "two green apples"]
    (run_dir / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt": p, "source_image": None}) + "\n" for p in prompts)
    )
    data = merge(
        run_data(
            model={"path": str(model_dir), "dtype": "float32"},
            sampler={"steps": 4, "height": 32, "width": 32},
            optim={"lr": 1e-3},
            max_steps=10,
            checkpoint_every=50,
            eval_every=1,
            eval_prompts=["a red cat", "a yellow sun"],
            gradient_checkpointing=False,
            mixed_precision="no",
            run_dir=str(run_dir),
            prompts_file=str(run_dir / "prompts.jsonl"),
            judge_task="t2i",
            resume=False,
            service={"url": url, "token": token},
        ),
        overrides,
    )
    (run_dir / "run.json").write_text(json.dumps(data))
    return data


def test_worker_trains_stops_on_request_with_a_checkpoint_and_resumes(tiny_flux_dir: Path, tmp_path: Path) -> None:
    service = StandIn(stop_after=2)
    try:
        run_dir = tmp_path / "run"
        # no KL: its single-sample gradient is nonzero even at zero advantage, which would hide the check
        cfg = parse_run_config(write_run(run_dir, tiny_flux_dir, service.url, rpo={"kl_beta": 0.0}), env={})
        assert worker.run(cfg) == 0
    finally:
        service.close()

    # stopped at update 2 (not max_steps 10), with a checkpoint of exactly that update
    assert [m["step"] for m in service.metrics] == [1, 2]
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "checkpoint-2"
    lifecycle = [e for e in service.events if e["kind"] != "eval"]
    assert [e["kind"] for e in lifecycle] == ["started", "checkpoint", "finished"]
    assert lifecycle[1]["data"]["path"] == str((run_dir / "checkpoints" / "checkpoint-2").resolve())
    assert lifecycle[2]["data"]["stop_reason"] == "stand-in stop"
    # every eval point (eval_every 1) reports its per-prompt base/current images for the controller's win rate
    evals = [e["data"] for e in service.events if e["kind"] == "eval"]
    assert [e["update"] for e in evals] == [1, 2]
    for e in evals:
        assert e["prompts"] == ["a red cat", "a yellow sun"] and e["source_images"] is None
        assert all(Path(p).is_file() for p in e["base"] + e["current"] + [e["grid"]])
        assert json.loads((run_dir / "grids" / f"eval-{e['update']:06d}.json").read_text()) == e
        # diversity (health.diversity.seeds 2 in the fixture): one spread per prompt, base and current
        assert all(len(e["spread"][k]) == 2 and all(v > 0 for v in e["spread"][k]) for k in ("base", "current"))
    # the base model and the seeds do not change between eval points, so neither does the base spread
    assert evals[0]["spread"]["base"] == evals[1]["spread"]["base"]
    # the first judgement failed: zero advantage, counted, nothing to learn from in update 1
    first, second = (m["metrics"] for m in service.metrics)
    assert (first["failed"], first["decided"], first["reward_mean"], first["grad_norm"]) == (1, 0, 0.0, 0.0)
    assert second["decided"] == 1 and second["agreement"] == 1.0 and second["grad_norm"] > 0
    for key in (
        "loss",
        "policy_loss",
        "kl",
        "ratio_mean",
        "clip_frac",
        "lr",
        "time_sampling",
        "time_judge_wait",
        "time_update",
    ):
        assert isinstance(second[key], float), key
    # the judge got real PNG files (rank-specific names); eval grids base vs current were written
    assert [Path(j["images"][0]).name for j in service.judged] == ["r0-o0-p0-c0.png", "r0-o1-p0-c0.png"]
    assert len(list((run_dir / "samples").glob("*.png"))) <= 2 * 8
    from PIL import Image

    grid = Image.open(run_dir / "grids" / "eval-000002.png")
    assert grid.size == (160 + 2 * 32, 14 + 2 * 32)

    # resume: continues from update 2 and saves its final update (max_steps 3)
    service = StandIn(stop_after=10**9, fail_first=False)
    try:
        cfg = parse_run_config(
            write_run(run_dir, tiny_flux_dir, service.url, rpo={"kl_beta": 0.0}, resume=True, max_steps=3), env={}
        )
        assert worker.run(cfg) == 0
    finally:
        service.close()
    assert service.events[0]["data"] == {"update": 2, "world_size": 1, "resumed": True, "restart": 0}
    assert [m["step"] for m in service.metrics] == [3]
    assert service.judged[0]["step"] == 2 and Path(service.judged[0]["images"][0]).name == "r0-o2-p0-c0.png"
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "checkpoint-3"


def test_wrong_token_is_a_clear_error_before_any_work(tiny_flux_dir: Path, tmp_path: Path) -> None:
    service = StandIn()
    try:
        data = write_run(tmp_path / "run", tiny_flux_dir, service.url, token="wrong")
        with pytest.raises(AuthError, match=r"refused the token \(401\)"):
            worker.run(parse_run_config(data, env={}))
        assert worker.main(["--config", str(tmp_path / "run" / "run.json")]) == worker.EXIT_FAILURE
        assert service.unauthorized == 2 and service.judged == []
        # the client does not retry a 401 (a wrong token will not get better)
        with pytest.raises(AuthError):
            ServiceClient(service.url, "wrong", retry_budget_s=30).post_event("started")
        assert service.unauthorized == 3
    finally:
        service.close()


def test_unreachable_service_fails_after_the_retry_budget() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # real sleeps: the budget is wall time
        sleeps.append(seconds)
        time.sleep(seconds)

    # a 2 s budget with backoff 0.25, 0.5, 1: several attempts however slow a refused connect is
    client = ServiceClient(f"http://127.0.0.1:{port}", TOKEN, retry_budget_s=2.0, _sleep=sleep)
    with pytest.raises(Exception, match="unreachable"):
        client.control()
    assert len(sleeps) >= 2 and sleeps == sorted(sleeps)  # backed off, then gave up


def test_bad_prompts_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "ok"}\n{"text": "no prompt key"}\n')
    with pytest.raises(Exception, match=r"prompts.jsonl:2: expected"):
        worker.read_prompts(path)
