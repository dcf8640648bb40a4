"""The jinja2 environment the report and run pages are drawn with, and a stamp of each template."""

from __future__ import annotations

import functools
import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jinja2

from analysis.render.cells import fmt_num, md_escape, safe_url

TEMPLATES = Path(__file__).parent / "templates"


@functools.lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    """One environment per process, so each template is compiled once (it reloads when edited)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "html.j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_escape
    env.filters["num"] = fmt_num
    env.filters["safe_url"] = safe_url
    return env


def template_stamp(name: str) -> str:
    """Changes when the template (or sweepkit) does: what a cached page was drawn with."""
    try:
        v = version("sweepkit")
    except PackageNotFoundError:
        v = "dev"
    text = (TEMPLATES / name).read_bytes()
    return f"{v}:{hashlib.sha256(text).hexdigest()[:16]}"
