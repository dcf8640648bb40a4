"""The offline backend's seams, checked over the source text: Optuna's private names only behind
`optuna_internals`, the store's keys only in `schema`, no branching on the search method outside
`methods/`, run states only as `RunState`. (Imports nothing of the backend: each check reads files.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _hits(paths: list[Path], rx: re.Pattern[str]) -> list[str]:
    return [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in paths
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if rx.search(line)
    ]


PRIVATE = re.compile(
    r"optuna\.storages\._rdb|_create_scoped_session|\._thread_lock\b|_sync_with_backend|journal\._file"
    r"|\._storage\b|\._trial_id\b|\._study_id\b|\._backend\b|\._file_path\b|_CachedStorage|\._replay_result"
    r"|\._cached_frozen_trial|\._log_number_offset|from optuna(\.\w+)*\._\w+|optuna(\.\w+)*\._[a-z]\w*"
)


def test_nothing_but_the_internals_module_names_a_private_optuna_attribute():
    door = ROOT / "agent" / "backends" / "local" / "optuna_internals.py"
    probes = ROOT / "tests" / "backends" / "test_optuna_internals.py"  # it names each, to find it
    files = [p for d in ("agent", "tests", "benchmarks", "scripts") for p in sorted((ROOT / d).rglob("*.py"))]
    hits = _hits([p for p in files if p not in (door, probes, Path(__file__).resolve())], PRIVATE)
    assert not hits, "reach Optuna's internals through agent/backends/local/optuna_internals.py:\n" + "\n".join(hits)


def test_nobody_but_the_schema_names_a_store_key():
    schema = ROOT / "agent" / "backends" / "local" / "schema"
    rx = re.compile(r"""["']sk_[a-z_]+["']""")
    hits = _hits([p for p in sorted((ROOT / "agent").rglob("*.py")) if schema not in p.parents], rx)
    assert not hits, "read and write the store's attrs through agent/backends/local/schema/:\n" + "\n".join(hits)


def test_the_engine_never_asks_which_method_it_runs():
    local = ROOT / "agent" / "backends" / "local"
    rx = re.compile(r"""["'](grid|random|bayes)["']|\.get\(["']method["']\)|\bmethod\s*==""")
    hits = _hits([p for p in sorted(local.rglob("*.py")) if "methods" not in p.relative_to(local).parts], rx)
    assert not hits, "ask the sweep's SearchMethod instead:\n" + "\n".join(hits)


def test_the_backends_name_run_states_through_runstate():
    rx = re.compile(r"""["'](running|finished|failed|crashed|killed|pruned|preempted)["']""")
    hits = _hits(sorted((ROOT / "agent" / "backends").rglob("*.py")), rx)
    assert not hits, "name run states as agent.states.RunState members:\n" + "\n".join(hits)
