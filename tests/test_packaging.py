"""The wheel is what users install: its name, version, dependencies, extras, console script and the
package data the code loads at run time (the GLUE metric module, the report templates). The package
is declared in setup.cfg; pyproject.toml keeps the build system and the tools' settings."""

from __future__ import annotations

import configparser
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.helpers import REPO, copy_checkout

REQUIRES = {
    "torch>=2.4",
    "transformers<6,>=5",
    "datasets<6,>=5",
    "evaluate>=0.4.6",
    "tokenizers>=0.21",
    "accelerate>=1.1",
    "wandb<0.32,>=0.31",
    "optuna<6,>=5",
    "greenlet>=3",
    "sqlalchemy>=2",
    "numpy>=2",
    "pandas>=2",
    "pyarrow>=14",
    "scipy>=1.11",
    "scikit-learn>=1.4",
    "pyyaml>=6",
    "click>=8.1",
    "rich>=13",
    "jinja2>=3.1",
    "plotly>=5.20",
    "matplotlib>=3.8",
    "psutil>=5.9",
    "nvidia-ml-py>=12",
}
EXTRAS = {
    "postgres": {"psycopg2-binary>=2.9"},
    "mysql": {"pymysql>=1.1"},
    "publish": {"wandb-workspaces>=0.4"},
}


def test_the_package_is_declared_in_setup_cfg_and_the_tools_in_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert set(pyproject) == {"build-system", "tool"}  # no [project]: one declaration of the package
    assert {"pytest", "ruff", "mypy", "importlinter"} <= set(pyproject["tool"])
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["metadata"]["name"] == "sweepkit"
    assert "sweepkit = agent.cli:main" in cfg["options.entry_points"]["console_scripts"]


@pytest.mark.slow
def test_the_wheel_holds_the_metadata_scripts_and_package_data(tmp_path):
    src = copy_checkout(tmp_path / "src")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("sweepkit-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = Parser().parsestr(z.read("sweepkit-0.1.0.dist-info/METADATA").decode())
        entry_points = z.read("sweepkit-0.1.0.dist-info/entry_points.txt").decode()
    assert meta["Name"] == "sweepkit" and meta["Version"] == "0.1.0"
    assert meta["Requires-Python"] == ">=3.11" and meta["License-Expression"] == "Apache-2.0"
    requires = meta.get_all("Requires-Dist")
    assert {r for r in requires if ";" not in r} == REQUIRES
    assert set(meta.get_all("Provides-Extra")) == {*EXTRAS, "dev"}
    for extra, wanted in EXTRAS.items():
        assert {r.split(";")[0].strip() for r in requires if f'extra == "{extra}"' in r} == wanted
    assert "[console_scripts]\nsweepkit = agent.cli:main" in entry_points
    assert "agent/trial/metrics/glue.py" in names  # loaded by path at run time
    # every template the checkout has, wherever the renderers keep them
    templates = {str(p.relative_to(REPO)) for p in REPO.glob("analysis/**/*.j2")}
    assert len(templates) >= 3 and templates <= names
    assert {"agent/cli/__init__.py", "agent/backends/local/engine.py", "analysis/report/build.py"} <= names
    assert not any(n.startswith(("tests/", "benchmarks/", "sweeps/")) for n in names)
    assert meta.get_payload().startswith("# sweepkit")  # the README is the long description
    assert Path(wheel).name == "sweepkit-0.1.0-py3-none-any.whl"
