"""Fixtures shared by the test files."""

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private local store: $SWEEPKIT_HOME under tmp_path, no shared --storage."""
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / ".sweepkit"))
    monkeypatch.delenv("SWEEPKIT_STORAGE", raising=False)
    return tmp_path
