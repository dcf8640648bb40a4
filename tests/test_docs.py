"""The README is the first doc a new user reads: its config reference is the trial's table, verbatim."""

from pathlib import Path

from agent.trial.reference import flags_markdown, reference_markdown

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_config_reference_is_the_trial_table():
    assert reference_markdown() in README.read_text(), (
        "README.md's config reference differs from agent/trial/config.py: paste "
        "`python -c 'from agent.trial.reference import reference_markdown; print(reference_markdown())'`"
    )


def test_readme_flag_table_is_the_trials_table_of_run_glue_flags():
    assert flags_markdown() in README.read_text(), (
        "README.md's run_glue flag table differs from agent/trial/flags.py: paste "
        "`python -c 'from agent.trial.reference import flags_markdown; print(flags_markdown())'`"
    )


def test_readme_shows_the_two_setup_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text


def test_architecture_names_every_folder_of_the_tree():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    folders = [
        p.relative_to(ROOT).as_posix()
        for top in ("agent", "analysis")
        for p in sorted((ROOT / top).glob("*/"))
        if p.is_dir() and not p.name.startswith("__")
    ]
    missing = [f for f in folders + ["analysis", "sweeps", "benchmarks"] if f"{f}/" not in text]
    assert not missing, f"docs/ARCHITECTURE.md does not describe {missing}"
