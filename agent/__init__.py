"""sweepkit's agent package: everything that runs trials (`python -m agent` runs one)."""
__version__ = "0.1.0"
