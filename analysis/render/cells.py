"""One value as a page, a table or a JSON payload shows it: report.html, report.md, run pages and live.js."""

from __future__ import annotations

import html
import math
import re
from typing import Any

import numpy as np
import pandas as pd

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def cell(v: Any) -> Any:
    """A table cell as JSON: numbers and strings as they are, missing values as null."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    return v if isinstance(v, (str, int, float, bool)) else str(v)


def md_escape(v: Any) -> str:
    """Table-cell safe for GitHub markdown: no HTML, no pipes, no links, one line."""
    s = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    s = html.escape(s.replace("\r", " ").replace("\n", " "), quote=True)
    return _MD_SPECIAL.sub(r"\\\1", s)


def safe_url(u: Any) -> str | None:
    """Only http(s) links: a run-supplied `javascript:` URL must not become a link."""
    return u if isinstance(u, str) and re.match(r"^https?://[^\s\"'<>]+$", u) else None


def fmt_num(v: Any, scale_factor: float | None = None) -> str:
    """A number for a table: counts with thousands separators, others to about four significant digits."""
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        n = int(v)
        return f"{n:,}" if abs(n) >= 10000 else str(n)
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "n/a"
        if scale_factor:
            v = v * scale_factor
        return f"{v:.4g}" if (abs(v) < 1e-2 or abs(v) >= 1e5) and v != 0 else f"{v:,.3f}".rstrip("0").rstrip(".")
    return str(v)
