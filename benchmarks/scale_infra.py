"""What `engine_scale --arrays` stands on: a PostgreSQL at its default settings with its connections
watched, a one-node SLURM cluster wide enough for hundreds of light tasks, and PgBouncer in
transaction mode in front of the server. Each is private to the benchmark (its own port and folder)
and stopped when it ends; none touches the tests' server or cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
ROLE = "sweepkit_bench"  # the agents connect as a plain role: the slots reserved for superusers stay free


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Postgres:
    """A private server at PostgreSQL's defaults (max_connections 100), and the agents' role."""

    def __init__(self, port: int, data: Path):
        self.port, self.data = port, data
        self.env = {**os.environ, "SWEEPKIT_PG_PORT": str(port), "SWEEPKIT_PG_DATA": str(data)}
        self.env.pop("SWEEPKIT_PG_MAX_CONNECTIONS", None)
        res = subprocess.run(["bash", "scripts/start_postgres.sh"], cwd=ROOT, env=self.env, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        if res.returncode != 0:
            raise SystemExit(f"engine_scale: PostgreSQL would not start: {res.stderr.strip()[-300:]}")
        self.superuser_url = res.stdout.strip()
        self.sql(f"DO $$BEGIN CREATE ROLE {ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
        self.sql(f"GRANT ALL ON SCHEMA public TO {ROLE}")
        self.url = self.superuser_url.replace("postgres@", f"{ROLE}@", 1)

    def sql(self, query: str) -> str:
        import psycopg2

        with contextlib.closing(psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                                 dbname="sweepkit_test")) as conn:  # fmt: skip
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(query)
                return str(cur.fetchone()[0]) if cur.description else ""

    def stop(self) -> None:
        subprocess.run(["bash", "scripts/stop_postgres.sh"], cwd=ROOT, env=self.env, capture_output=True, timeout=120)


class ConnectionPeak:
    """The most client connections the server held at once while it runs (this watcher's own aside),
    polled every 0.1 s over one superuser connection."""

    def __init__(self, port: int):
        import psycopg2

        self.conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="sweepkit_test")
        self.conn.autocommit = True
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConnectionPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.conn.close()

    def _run(self) -> None:
        with self.conn.cursor() as cur:
            while not self._stop.wait(0.1):
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()"
                )
                self.peak = max(self.peak, int(cur.fetchone()[0]))


class Cluster:
    """A one-node SLURM cluster beside the tests' one, declaring `cpus` CPUs (OverSubscribe FORCE:8 on
    the partition: 8 tasks per declared CPU)."""

    def __init__(self, folder: Path, port: int, cpus: int):
        self.env = {**os.environ, "SWEEPKIT_SLURM_DIR": str(folder), "SWEEPKIT_SLURM_PORT": str(port),
                    "SWEEPKIT_SLURM_CPUS": str(cpus)}  # fmt: skip
        res = subprocess.run(["bash", "scripts/start_slurm.sh"], cwd=ROOT, env=self.env, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        if res.returncode != 0:
            raise SystemExit(f"engine_scale: its SLURM cluster would not start: {res.stderr.strip()[-300:]}")
        self.env["SLURM_CONF"] = res.stdout.strip()
        self.slots = cpus * 8

    def submit(self, script: Path) -> str:
        res = subprocess.run(["sbatch", "--parsable", str(script)], env=self.env, capture_output=True, text=True,
                             timeout=60, check=True)  # fmt: skip
        return res.stdout.strip().split(";")[0]

    def running(self, job: str) -> tuple[int, int]:
        """(running, pending) tasks of the job; a task SLURM holds (its launch failed on a node too
        busy to answer) will not run, and counts as neither."""
        res = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%T|%r"], env=self.env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        rows = [line.split("|", 1) for line in res.stdout.splitlines() if "|" in line]
        held = [r for r in rows if r[0] == "PENDING" and "held" in r[1].lower()]
        if held:  # it would wait for a person forever
            subprocess.run(["scancel", job], env=self.env, capture_output=True, timeout=60)
        return sum(r[0] == "RUNNING" for r in rows), sum(r[0] == "PENDING" and r not in held for r in rows)

    def stop(self) -> None:
        subprocess.run(["bash", "scripts/stop_slurm.sh"], cwd=ROOT, env=self.env, capture_output=True, timeout=300)


class PgBouncer:
    """PgBouncer in transaction mode in front of the server: thousands of client connections share
    `pool` server connections; the claim lock, a transaction-level advisory lock, works through it."""

    def __init__(self, server: Postgres, port: int, folder: Path, pool: int = 20):
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise FileNotFoundError("pgbouncer is not installed (apt-get install pgbouncer)")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "users.txt").write_text(f'"{ROLE}" ""\n"postgres" ""\n')
        ini = folder / "pgbouncer.ini"
        ini.write_text(
            f"[databases]\nsweepkit_test = host=127.0.0.1 port={server.port} dbname=sweepkit_test\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {folder}/users.txt\npool_mode = transaction\n"
            f"default_pool_size = {pool}\nmax_client_conn = 5000\nlogfile = {folder}/pgbouncer.log\n"
            f"pidfile = {folder}/pgbouncer.pid\nignore_startup_parameters = extra_float_digits\n"
        )
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
            for f in folder.iterdir():
                shutil.chown(f, "postgres")
        res = subprocess.run(_as_postgres([binary, "-d", str(ini)]), capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise OSError(f"pgbouncer would not start: {(res.stderr or res.stdout).strip()[-300:]}")
        self.folder, self.pool = folder, pool
        self.url = server.url.replace(f":{server.port}/", f":{port}/")
        deadline = time.monotonic() + 30
        while not (folder / "pgbouncer.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        pid: Optional[str] = None
        with contextlib.suppress(OSError):
            pid = (self.folder / "pgbouncer.pid").read_text().strip()
        if pid and pid.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 15)
