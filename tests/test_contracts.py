"""The seams that import-linter cannot state, checked over the source text."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    p
    for d in ("agent", "analysis", "benchmarks", "scripts")
    for p in (ROOT / d).rglob("*")
    if p.suffix in (".py", ".sh", ".j2") and "__pycache__" not in p.parts
]
OUTSIDE_BACKENDS = [p for p in SOURCES if "backends" not in p.relative_to(ROOT).parts]


def _hits(paths, pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in paths
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if rx.search(line)
    ]


def test_only_the_backends_use_wandbs_public_api():
    assert not _hits([p for p in OUTSIDE_BACKENDS if p.suffix == ".py"], r"wandb\.apis|wandb\.Api\b|wandb_workspaces")


def test_nobody_outside_the_backends_branches_on_which_backend_it_holds():
    product = [
        p for p in OUTSIDE_BACKENDS if p.suffix == ".py" and p.relative_to(ROOT).parts[0] in ("agent", "analysis")
    ]
    pattern = "|".join(
        [
            r"""(\.name|backend\w*)\s*[!=]=\s*["'](local|wandb)["']""",  # backend.name == "local"
            r"""getattr\(\w*backend\w*, ["']name["']""",  # getattr(backend, "name", "")
            r"is_wandb_path|LocalBackend|WandbBackend",  # a backend named outright
        ]
    )
    assert not _hits(product, pattern)


def test_no_source_cites_a_file_outside_the_project():
    assert not _hits(SOURCES, r"FACTS\.md|DESIGN\.md|\.\./shared")


def test_modules_stay_small():
    big = {
        str(p.relative_to(ROOT)): n
        for p in SOURCES
        if p.suffix == ".py" and (n := len(p.read_text().splitlines())) > 420
    }
    assert not big, f"split these modules (one job each): {big}"


def test_analysis_imports_no_private_name_of_another_module():
    analysis = [p for p in SOURCES if p.suffix == ".py" and p.relative_to(ROOT).parts[0] == "analysis"]
    tests = sorted((ROOT / "tests" / "analysis").glob("*.py"))
    assert not _hits(analysis + tests, r"^\s*from (agent|analysis)[.\w]* import .*\b_[a-z]")
