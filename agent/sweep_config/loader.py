"""Reading a sweep YAML file into a dict, with one-line errors that point at the line."""

from __future__ import annotations

import os
from typing import Any

import yaml

from agent.errors import one_line

from .problems import SweepConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first given on line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        if isinstance(key, (str, int, float, bool)):
            seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_sweep_yaml(text: str, source: str = "<string>") -> dict:
    """Parse YAML text; SweepConfigError('source:line:col: problem') on bad YAML or a non-mapping."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        what = getattr(exc, "problem", None) or one_line(exc)
        context = getattr(exc, "context", None)
        detail = f"{what} ({context})" if context and context not in what else what
        raise SweepConfigError(f"{where}: invalid YAML: {detail}") from None
    if data is None:
        raise SweepConfigError(f"{source}: the file is empty; a sweep config needs at least method: and parameters:")
    if not isinstance(data, dict):
        raise SweepConfigError(
            f"{source}: the top level must be a mapping (method:, parameters:, ...), got a {type(data).__name__}"
        )
    return data


def load_sweep_file(path: str | os.PathLike) -> dict:
    """Read a sweep YAML file (`wandb sweep` reads the same); see `parse_sweep_yaml` for errors."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise SweepConfigError(f"{path}: cannot read the sweep file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise SweepConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    return parse_sweep_yaml(text, str(path))
