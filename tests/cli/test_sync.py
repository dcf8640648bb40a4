"""`sweepkit sync` against a local stand-in for W&B's API (no network): what the upload carries.

The stand-in records every request and answers `{"data": {}}`; wandb gives up after the first
few calls, which is enough to see the run's `upsertBucket`: its project, entity, group, tags,
and whether it names a sweep.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from click.testing import CliRunner

from agent.backends.base import Backend, SyncPlan
from agent.cli import cli
from agent.cli.session import Session
from tests.helpers import FOREIGN, env_for, make_sweep, sk, status


@pytest.fixture
def fake_wandb():
    bodies: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            bodies.append(self.rfile.read(n).decode("utf-8", "replace"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"data": {}}')

        do_POST = do_GET = _answer

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    server.shutdown()


def _upserts(bodies: list[str]) -> list[dict]:
    out = []
    for b in bodies:
        try:
            msg = json.loads(b)
        except ValueError:
            continue
        if "upsertBucket" in msg.get("query", "") and msg.get("variables", {}).get("groupName"):
            out.append(msg["variables"])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("link", [True, False])
def test_sync_uploads_runs_with_project_group_and_tags(tmp_path, fake_wandb, link):
    url, bodies = fake_wandb
    (tmp_path / "train.py").write_text(FOREIGN)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss}
        parameters:
          x: {values: [1]}
    """,
    )
    res = sk(tmp_path, "agent", sid, *([] if link else ["--no-sweep-id"]))
    assert res.returncode == 0, res.stderr
    (run,) = status(tmp_path, sid)["runs"]
    assert run["config"]["x"] == 1  # params arrive either way
    gone = f"3-1-unix-{tmp_path / 'gone.sock'}"  # a wandb service that has exited: wandb sync must start its own
    env = env_for(tmp_path, WANDB_BASE_URL=url, WANDB_API_KEY="x" * 40, WANDB_MODE="online", WANDB_SERVICE=gone)
    res = sk(tmp_path, "sync", sid, "--project", "up-proj", "--entity", "me", env=env, timeout=120)
    assert ("WANDB_SWEEP_ID" in res.stderr) == link  # the warning, only when linked
    ups = _upserts(bodies)
    assert ups, f"no run upserted; sync exit {res.returncode}: {res.stdout[-800:]} {res.stderr[-1500:]}"
    v = ups[0]
    assert (v["name"], v["project"], v["entity"]) == (run["id"], "up-proj", "me")
    assert v["groupName"] == f"sweep-{sid}"
    assert set(v.get("tags") or []) >= {"sweepkit", f"sweep-{sid}"}
    assert v.get("sweep") == (sid if link else None)


class UploadOnly(Backend):
    """A backend whose runs need uploading and nothing after: it keeps the interface's finish_sync."""

    name = "upload-only"

    def create_sweep(self, config, *, project=None, entity=None):
        raise NotImplementedError

    sweep = list_sweeps = runs = history = run_agent = create_sweep

    def host_bound_store(self, info):
        return None

    def sync_plan(self, sweep_id, *, project, entity, include_synced=False):
        return SyncPlan(commands=[[sys.executable, "-c", "pass"]], runs=1, sweep_note="no W&B sweep to create")


def test_sync_finishes_through_the_interface_whatever_the_backend(monkeypatch):
    monkeypatch.setattr(Session, "backend", lambda self, *a, **kw: UploadOnly())
    res = CliRunner().invoke(cli, ["sync", "abc123"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1] == "no W&B sweep to create"
