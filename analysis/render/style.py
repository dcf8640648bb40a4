"""What every figure shares: the palette, and how many points a curve drawn in a browser keeps."""

from __future__ import annotations

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
MAX_CURVE_POINTS = 100  # per run curve on the progress section and (x3) on a run page


def color(i: int) -> str:
    """The i-th colour of the palette, cycling."""
    return PALETTE[i % len(PALETTE)]


def rgba(hex_color: str, alpha: float) -> str:
    """A hex colour ("#1f77b4") at `alpha`, as a CSS rgba() colour (a band's fill)."""
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"
