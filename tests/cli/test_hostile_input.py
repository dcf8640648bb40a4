"""Hostile and huge input through the CLI: each bound is exit 2 with one line naming it and the
fix, in `validate` and `sweep` alike, and leaves no sweep behind; a sweep id is a name in the
store, never a path out of it, for every command that takes one. Time and memory at each bound
are measured by benchmarks/hostile_input.py, not asserted here."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from agent.backends.local import LocalBackend
from agent.cli import cli
from agent.sweep_config.limits import MAX_FILE_BYTES
from tests.helpers import env_for, sk

HEAD = "program: train.py\nmethod: grid\n"
VALUES = "parameters:\n  x:\n    values: [1, 2]\n"


def bomb(levels: int = 10, fan: int = 10) -> str:
    items = ["&a0 [lol]"] + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    return HEAD + "parameters:\n  x:\n    values:\n" + "".join(f"      - {item}\n" for item in items)


CASES = {
    "alias bomb": (bomb(), "expands to more than 200,000 YAML nodes"),
    "60,000 deep": (HEAD + "parameters:\n  x:\n    value: " + "[" * 60_000 + "]" * 60_000 + "\n", "nesting deeper"),
    "past 1 MiB": (HEAD + VALUES + "# " + "x" * MAX_FILE_BYTES + "\n", "larger than 1 MiB"),
    "10^15-point grid": (HEAD + "parameters:\n  a: {min: 1, max: 1000000000000000}\n", "more than the 10,000 allowed"),
}


def invoke(*args: str, **env: str):
    return CliRunner().invoke(cli, list(args), env=env or None)


def one_line_error(stderr: str, words: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and lines, stderr
    hit = [line for line in lines if words in line]
    assert len(hit) == 1, lines
    return hit[0]


@pytest.mark.parametrize("case", [c for c in CASES if c != "alias bomb"])
def test_validate_and_sweep_refuse_each_bound_in_one_line(home, case):
    text, words = CASES[case]
    (home / "s.yaml").write_text(text)
    for command in ("validate", "sweep"):
        res = invoke(command, str(home / "s.yaml"))
        assert res.exit_code == 2, (command, res.output)
        line = one_line_error(res.stderr, words)
        assert "s.yaml" in line and ("fix" in line or ";" in line)
    assert not (home / ".sweepkit" / "sweeps").exists()  # nothing half-made


def _capped(limit_mb: int):
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 2**20, limit_mb * 2**20))

    return cap


def test_an_alias_bomb_is_refused_by_validate_and_sweep_leaving_nothing(tmp_path, monkeypatch):
    (tmp_path / "s.yaml").write_text(bomb())
    words = CASES["alias bomb"][1]
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / ".sweepkit"))
    checked = invoke("validate", str(tmp_path / "s.yaml"))
    assert checked.exit_code == 2 and "s.yaml:11:" in one_line_error(checked.stderr, words)
    # `sweep` in a process capped at 1.5 GB: the bomb must not get to expand, there or anywhere later
    res = sk(tmp_path, "sweep", "s.yaml", timeout=60, preexec_fn=_capped(1536))
    assert res.returncode == 2 and "s.yaml:11:" in one_line_error(res.stderr, words)
    assert not (tmp_path / ".sweepkit" / "sweeps").exists()


def test_a_large_allowed_grid_validates_with_the_bound_raised_by_option_or_env(home):
    listed, product = home / "list.yaml", home / "product.yaml"
    listed.write_text(HEAD + "parameters:\n  x:\n    values: [" + ",".join(map(str, range(100_000))) + "]\n")
    product.write_text(HEAD + "parameters:\n" + "".join(f"  p{i}: {{min: 1, max: 10}}\n" for i in range(5)))
    assert invoke("validate", "--max-grid", "100000", str(listed)).exit_code == 0  # 0.6 MB, 100,000 values
    refused = invoke("validate", str(product))
    assert refused.exit_code == 2 and "100,000 points, more than the 10,000 allowed" in refused.stderr
    assert invoke("validate", str(product), SWEEPKIT_MAX_GRID="100000").exit_code == 0
    assert invoke("sweep", "--max-grid", "99999", str(product)).exit_code == 2


# --- ids are names, not paths ---------------------------------------------------------------------
# Runs every command in one process whose audit hook refuses (and records) any open of a file under
# the victim's folder: the planted sweep there has a real journal, which old code would open.
RUNNER = textwrap.dedent("""
    import contextlib, io, json, os, sys
    victim, commands = sys.argv[1], json.loads(sys.argv[2])
    opened, busy = [], []

    def hook(event, args):
        if event != "open" or busy or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        busy.append(1)
        try:
            path = os.path.realpath(os.fsdecode(args[0]))
        finally:
            busy.pop()
        if path.startswith(victim):
            opened.append(path)
            raise PermissionError(f"opened {path}, outside the store")

    sys.addaudithook(hook)
    from agent.cli import main
    from agent.runners import pool_worker

    for argv in commands:
        opened.clear()
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                if argv[0] == "pool_worker":
                    pool_worker.main(argv[1:], prog_name="pool_worker")
                else:
                    sys.argv = ["sweepkit", *argv]
                    main()
                code = 0
            except SystemExit as exc:
                code = exc.code
        lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
        result = {"argv": argv, "code": code, "opened": opened[:], "err": lines[-1:], "out": out.getvalue()}
        print(json.dumps(result), flush=True)
""")


def _snapshot(root: Path) -> dict:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def test_no_command_opens_a_sweep_outside_the_store_by_its_path(tmp_path, monkeypatch):
    victim, config = tmp_path / "victim", yaml.safe_load(HEAD + VALUES)
    monkeypatch.setenv("SWEEPKIT_HOME", str(victim))
    vid = LocalBackend().create_sweep(config)
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / ".sweepkit"))
    own = LocalBackend().create_sweep(config)
    store = tmp_path / ".sweepkit" / "sweeps"
    (store / "linkaway").symlink_to(victim / "sweeps" / vid)  # 8 characters of the alphabet, a link out
    rel, absolute = f"../../victim/sweeps/{vid}", str(victim / "sweeps" / vid)
    commands = [
        ["status", rel, "--backend", "local"],
        ["status", absolute],
        ["status", "linkaway"],
        ["agent", rel, "--backend", "local"],
        ["agent", absolute, "--backend", "local", "--workers", "2"],
        ["report", absolute, "--backend", "local", "--out", "out"],
        ["report", own, "--backend", "local", "--out", "out", "--retest", rel],
        ["doctor", rel],
        ["sync", rel, "--backend", "local", "--dry-run"],
        ["retest", absolute, "--backend", "local"],
        ["pool_worker", rel, "--backend", "local"],
        ["sweeps", "--json"],  # lists the store's own sweep, skipping the link
    ]
    before = _snapshot(victim)
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, str(victim.resolve()), json.dumps(commands)],
        cwd=tmp_path,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(commands), out.stderr[-2000:]
    *refused, listing = results
    for r in refused:
        assert r["opened"] == [] and r["code"] == 2, r
        assert "is not a local sweep id" in r["err"][0] or "leads outside it" in r["err"][0], r
    assert listing["opened"] == [] and listing["code"] == 0, listing
    assert [s["id"] for s in json.loads(listing["out"])] == [own]
    assert _snapshot(victim) == before
