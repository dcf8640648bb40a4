"""Fixtures shared by the test files."""

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private local store: $SWEEPKIT_HOME under tmp_path, no shared --storage."""
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / ".sweepkit"))
    monkeypatch.delenv("SWEEPKIT_STORAGE", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def slurm_cluster():
    """A SLURM cluster for the job-array tests, as SLURM_CONF in os.environ (tests' processes inherit it).

    The one `make test` started (SWEEPKIT_TEST_SLURM set); else, as root, a private one-node cluster
    started here (installing slurm-wlm and munge first if missing) and stopped when the last pytest
    process using it ends; else a skip saying why."""
    import fcntl
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    if os.environ.get("SWEEPKIT_TEST_SLURM"):
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=60)
        if "is UP" not in ping.stdout:
            pytest.fail(f"SWEEPKIT_TEST_SLURM is set but `scontrol ping` says: {ping.stdout or ping.stderr}".strip())
        yield os.environ.get("SLURM_CONF")
        return
    if os.geteuid() != 0:
        msg = "SLURM tests need root (to start a private one-node cluster) or SWEEPKIT_TEST_SLURM + SLURM_CONF"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    users = Path(tempfile.gettempdir()) / f"sweepkit-slurm-pytest-{os.getuid()}.users"

    def locked(change):  # the pids of the pytest processes using the cluster, under a lock
        with open(users, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            alive = {p for p in fh.read().split() if p.isdigit() and Path(f"/proc/{p}").exists()}
            alive, result = change(alive)
            fh.seek(0)
            fh.truncate()
            fh.write(" ".join(sorted(alive)))
            return result

    def start(alive):
        subprocess.run(["bash", "scripts/system_deps.sh"], cwd=repo, check=False)
        res = subprocess.run(["bash", "scripts/start_slurm.sh"], cwd=repo, capture_output=True, text=True)
        return alive | {str(os.getpid())} if res.returncode == 0 else alive, res

    res = locked(start)
    if res.returncode != 0:
        pytest.fail(f"scripts/start_slurm.sh failed: {res.stderr.strip().splitlines()[-1:]}")
    os.environ["SLURM_CONF"] = res.stdout.strip()
    yield os.environ["SLURM_CONF"]

    def stop(alive):
        alive = alive - {str(os.getpid())}
        if not alive:
            subprocess.run(["bash", "scripts/stop_slurm.sh"], cwd=repo, check=False)
        return alive, None

    locked(stop)
