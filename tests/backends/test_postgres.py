"""A sweep shared through a real PostgreSQL server (`make test` / `.ci/run` start it).

Two agent processes, each with its own SWEEPKIT_HOME (as if on two machines), share one grid
sweep through `--storage URL`; every point runs exactly once.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.helpers import RECORDER, env_for, make_sweep, records, sk, sk_popen, status

PG_URL = os.environ.get("SWEEPKIT_TEST_PG_URL")

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url():
    if not PG_URL:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(
                "SWEEPKIT_TEST_PG_URL is not set under CI: scripts/test_env.sh must start PostgreSQL "
                "(see /tmp/sweepkit-pg.log)"
            )
        pytest.skip("SWEEPKIT_TEST_PG_URL not set; run `make test` (it starts a private PostgreSQL)")
    return PG_URL


@pytest.mark.slow
def test_two_agents_share_a_grid_sweep_through_postgresql(tmp_path, pg_url):
    (tmp_path / "rec.py").write_text(RECORDER)
    rec = tmp_path / "rec.jsonl"
    env_a = env_for(tmp_path, RECORD_FILE=str(rec), SWEEPKIT_HOME=str(tmp_path / "machine_a"))
    env_b = env_for(tmp_path, RECORD_FILE=str(rec), SWEEPKIT_HOME=str(tmp_path / "machine_b"))
    tag = uuid.uuid4().hex[:6]
    sid = make_sweep(
        tmp_path,
        f"""
        program: rec.py
        name: pg-{tag}
        command: ["${{interpreter}}", "${{program}}", "${{args_json}}"]
        method: grid
        metric: {{name: loss}}
        parameters:
          a: {{values: [1, 2, 3, 4, 5, 6]}}
          sleep: {{value: 0.3}}
    """,
        "--storage",
        pg_url,
        env=env_a,
    )
    procs = [sk_popen(tmp_path, "agent", sid, "--storage", pg_url, env=e) for e in (env_a, env_b)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(r["args"]["a"] for r in records(rec)) == [1, 2, 3, 4, 5, 6]
    st = status(tmp_path, sid, "--storage", pg_url, env=env_b)  # readable from the other "machine"
    assert st["sweep"]["state"] == "finished"
    assert sorted(r["config"]["a"] for r in st["runs"]) == [1, 2, 3, 4, 5, 6]
    forgot = sk(tmp_path, "status", sid, env=env_a)  # where it was created, no --storage
    assert forgot.returncode == 2 and "pass --storage" in forgot.stderr and "Traceback" not in forgot.stderr
    homes = {r["run_dir"].split("/machine_")[1][0] for r in st["runs"]}
    assert homes == {"a", "b"}, "both agents should have taken points"


def test_unknown_sweep_in_postgresql_is_a_one_line_error(tmp_path, pg_url):
    res = sk(tmp_path, "status", "nosuch00", "--storage", pg_url)
    assert res.returncode == 2
    assert "nosuch00" in res.stderr and "Traceback" not in res.stderr


def test_rerun_extend_and_warm_start_through_postgresql(home, pg_url):
    """The same life as on the journal (tests/backends/test_lifecycle.py), on the database store."""
    from agent.backends.base import FAILED
    from agent.backends.local import LocalBackend
    from tests.helpers import run_in_process

    b = LocalBackend(storage=pg_url)
    grid = {"method": "grid", "metric": {"name": "m", "goal": "maximize"}, "parameters": {"a": {"values": [1, 2, 3]}}}
    sid = b.create_sweep(grid)
    failed_once: list[int] = []

    def trial(spec):
        if spec.params["a"] == 2 and not failed_once:
            failed_once.append(1)
            raise RuntimeError("CUDA out of memory")
        return {"m": float(spec.params["a"])}

    assert run_in_process(b, sid, trial, max_consecutive_failures=9) == 0
    assert [params for _, params in b.rerun(sid, states=[FAILED]).queued] == [{"a": 2}]
    assert run_in_process(b, sid, trial) == 0
    assert sorted(r.config["a"] for r in b.runs(sid) if r.state == "finished") == [1, 2, 3]
    assert b.extend_sweep(sid, {**grid, "parameters": {"a": {"values": [1, 2, 3, 4]}}}).new_points == 1
    assert run_in_process(b, sid, trial) == 0  # the engine read before the extension runs the new point
    assert sorted(r.config["a"] for r in b.runs(sid) if r.state == "finished") == [1, 2, 3, 4]
    assert b.sweep(sid).state == "finished"

    from agent.cli.warmstart import gather

    bayes = {"method": "bayes", "metric": grid["metric"], "parameters": {"a": {"min": 1, "max": 3}}}
    seed = gather(b, bayes, [sid])
    assert len(seed.runs) == 3 and seed.skipped  # a=4 is outside the new range
    new = b.create_sweep(bayes, prior=seed.runs)
    study = b.engine(new).study
    assert sorted((t.params["a"], t.value) for t in study.trials) == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert run_in_process(b, new, lambda spec: {"m": float(spec.params["a"])}, count=1) == 0
    assert len(b.runs(new)) == 4
