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
