"""`sweepkit sweep --pause|--resume|--stop|--cancel` on a W&B sweep, against a local stand-in for W&B's
GraphQL API (no network): wandb's own client reads the sweep, then sends the `upsertSweep` mutation
with the state `wandb sweep --pause|--resume|--stop|--cancel` sends (stop: FINISHED, cancel: CANCELED);
a change W&B refuses (pausing a finished sweep) is one line, exit 2, and nothing is sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.helpers import env_for, sk


class FakeWandb:
    """Answers the viewer query, the sweep query (the sweep in `state`), and records each mutation."""

    def __init__(self) -> None:
        self.state = "RUNNING"
        self.mutations: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    msg = json.loads(body)
                except ValueError:
                    msg = {}
                query = msg.get("query", "") if isinstance(msg, dict) else ""
                data: dict = {}
                if "viewer" in query:
                    data = {"viewer": {"id": "VXNlcjox", "entity": "me", "username": "me", "teams": {"edges": []}}}
                elif "SweepWithRuns" in query:
                    sweep = {"id": "U3dlZXA6MQ==", "name": "abc123", "state": fake.state, "runs": {"edges": []}}
                    data = {"project": {"sweep": {**sweep, "config": "{}", "method": "grid"}}}
                elif "upsertSweep" in query:
                    fake.mutations.append(msg)
                    data = {"upsertSweep": {"sweep": {"name": "abc123"}}}
                out = json.dumps({"data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake_wandb() -> Iterator[FakeWandb]:
    fake = FakeWandb()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flag", "sent", "said"),
    [
        ("pause", "PAUSED", "W&B hands out no new run; agents wait"),
        ("resume", "RUNNING", "W&B hands out runs again"),
        ("stop", "FINISHED", "W&B hands out no new run and shows the sweep finished"),
        ("cancel", "CANCELED", "W&B tells each agent to stop its running run (killed)"),
    ],
)
def test_each_state_is_wandbs_own_upsert_sweep_mutation(tmp_path, fake_wandb, flag, sent, said):
    fake_wandb.state = "PAUSED" if flag == "resume" else "RUNNING"
    env = env_for(tmp_path, WANDB_BASE_URL=fake_wandb.url, WANDB_API_KEY="x" * 40, WANDB_MODE="online")
    res = sk(tmp_path, "sweep", f"--{flag}", "me/proj/abc123", env=env)
    assert res.returncode == 0, res.stderr
    state = "running" if flag == "resume" else {"stop": "stopped", "cancel": "cancelled"}.get(flag, "paused")
    assert res.stdout.strip().startswith(f"wandb sweep me/proj/abc123 is {state}: {said}"), res.stdout
    (mutation,) = fake_wandb.mutations
    assert "mutation UpsertSweep" in mutation["query"]
    assert mutation["variables"] == {
        "id": "U3dlZXA6MQ==",
        "state": sent,
        "entityName": "me",
        "projectName": "proj",
    }


@pytest.mark.slow
def test_a_change_wandb_refuses_is_one_line_and_sends_nothing(tmp_path, fake_wandb):
    fake_wandb.state = "FINISHED"
    env = env_for(tmp_path, WANDB_BASE_URL=fake_wandb.url, WANDB_API_KEY="x" * 40, WANDB_MODE="online")
    res = sk(tmp_path, "sweep", "--pause", "me/proj/abc123", env=env)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "sweepkit: error: W&B did not set sweep me/proj/abc123 to paused: Cannot pause finished sweep."
    )
    assert fake_wandb.mutations == []
