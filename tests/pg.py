"""A private PostgreSQL server a test may stop, restart or fill up, without touching the shared one
other tests use at the same time (`scripts/start_postgres.sh` with a port and a data dir of its own)."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import pytest

REPO = Path(__file__).resolve().parents[1]


def _bin() -> Optional[Path]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name.split(".")[0]))
    return Path(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """One throw-away server: `url`, `stop()`, `start()`, `sql()`; removed by `destroy()`."""

    def __init__(self, data: Path, max_connections: Optional[int] = None):
        self.data, self.port, self.bin = data, _free_port(), _bin()
        self.max_connections = max_connections
        env = {**os.environ, "SWEEPKIT_PG_PORT": str(self.port), "SWEEPKIT_PG_DATA": str(data)}
        if max_connections:
            env["SWEEPKIT_PG_MAX_CONNECTIONS"] = str(max_connections)
        res = subprocess.run(["bash", "scripts/start_postgres.sh"], cwd=REPO, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            pytest.fail(f"a private PostgreSQL would not start: {res.stderr.strip()[-300:]}")
        self.url = res.stdout.strip()

    def _pg(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        if self.max_connections:
            opts += f" -c max_connections={self.max_connections}"
        self._pg("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.data / "server.log"), "-w", "start")

    def sql(self, query: str) -> str:
        """psql as the superuser (it may use the slots reserved for superusers)."""
        res = self._pg("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "sweepkit_test",
                       "-tAc", query)  # fmt: skip
        return res.stdout.strip()

    def role_url(self, role: str) -> str:
        """The URL for a plain (not superuser) role, created once: what a cluster's agents connect as."""
        self.sql(f"DO $$BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
        self.sql(f"GRANT ALL ON SCHEMA public TO {role}")
        return self.url.replace("postgres@", f"{role}@", 1)

    def destroy(self) -> None:
        env = {**os.environ, "SWEEPKIT_PG_PORT": str(self.port), "SWEEPKIT_PG_DATA": str(self.data)}
        subprocess.run(["bash", "scripts/stop_postgres.sh"], cwd=REPO, env=env, capture_output=True)


def private_postgres(max_connections: Optional[int] = None) -> PrivatePostgres:
    """A fresh private server, or a skip (a failure under CI) when PostgreSQL is not installed. Its
    data dir sits right under the temp dir: the postgres user must reach it."""
    if _bin() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("PostgreSQL is not installed under CI: scripts/system_deps.sh installs it")
        pytest.skip("PostgreSQL is not installed; run `make test` (it installs it as root)")
    data = Path(tempfile.gettempdir()) / f"sk-pg-test-{os.getpid()}-{time.monotonic_ns()}"
    return PrivatePostgres(data, max_connections)
