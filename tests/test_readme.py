"""The README is the only doc a new user reads: its config reference must name every trial key."""
from pathlib import Path

from agent.config import FIELDS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_config_reference_lists_every_trial_key():
    text = README.read_text()
    missing = [k for k in FIELDS if f"| `{k}` |" not in text]
    assert not missing, f"README.md config reference lacks {missing}: regenerate it from agent/config.py"


def test_readme_shows_the_two_setup_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
