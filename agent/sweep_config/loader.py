"""Reading a sweep YAML file into a dict: bounded, with one-line errors that point at the line.

The parser is libyaml's (`yaml.CSafeLoader`'s, about six times faster) where PyYAML was built with
it, else PyYAML's own (`yaml.SafeLoader`'s); the rest is PyYAML's Python code either way, so both
type values alike (YAML 1.1 as `wandb sweep` reads it: `2e-4` stays a string) and report the same
errors. The composer counts as it goes and refuses what is past the bounds in `limits.py` before
anything is built: nesting past MAX_DEPTH as it descends (never a RecursionError), and nodes past
MAX_NODES counting each alias at the full size of what it names (an alias bomb stops at the
bound, not at the machine's memory); the file's size is checked before it is parsed at all.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node

from agent.errors import one_line

from .limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from .problems import SweepConfigError

if TYPE_CHECKING:  # yaml.CSafeLoader exists only where PyYAML was built with libyaml
    Loader = type[yaml.SafeLoader] | type[yaml.CSafeLoader]


class LimitError(yaml.MarkedYAMLError):
    """Input past one of the bounds; `problem` names the bound and the fix."""


_DEPTH = (
    f"nesting deeper than {MAX_DEPTH} levels, the limit for a sweep config; a sweep nests parameters a few "
    "levels deep, so flatten the structure"
)


class _Counting(Composer):
    """PyYAML's composer, counting depth and expanded size as it goes (every loader below uses it,
    whichever parser feeds it events)."""

    _depth: int
    _nodes: int
    _sizes: dict[str, int]  # anchor -> how many nodes it stands for, once composed

    if TYPE_CHECKING:  # the parser's, which comes after this class in every loader's MRO

        def peek_event(self) -> Event: ...

    def _start_counting(self) -> None:
        self.anchors: dict[Any, Node] = {}
        self._depth = self._nodes = 0
        self._sizes = {}

    def _add(self, nodes: int, mark: Any) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            raise LimitError(
                problem=f"the config expands to more than {MAX_NODES:,} YAML nodes (aliases counted at the size "
                "of what they name), the limit for a sweep config; write the values out once, without "
                "anchors of anchors, or split the sweep",
                problem_mark=mark,
            )

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: Any = self.peek_event()
        if isinstance(event, AliasEvent):
            anchor, mark = str(event.anchor), cast(Any, event.start_mark)
            if anchor in self.anchors and anchor not in self._sizes:
                raise LimitError(
                    problem=f"alias *{anchor} sits inside its own anchor &{anchor}, which makes an endless "
                    "structure; copy the values instead of aliasing the anchor from within",
                    problem_mark=mark,
                )
            self._add(self._sizes.get(anchor, 0), mark)
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise LimitError(problem=_DEPTH, problem_mark=event.start_mark)
        self._depth += 1
        before = self._nodes
        self._add(1, event.start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self._nodes - before
        return node


_MERGE = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: yaml.SafeLoader | yaml.CSafeLoader, node: MappingNode, deep: bool = False) -> dict:
    """SafeLoader's mappings, refusing a key given twice in one mapping (PyYAML silently keeps the last).
    A key the mapping writes out itself may override one it merges in (`<<: *base`), as YAML says."""
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE:
            continue
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
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


class PyLoader(_Counting, yaml.SafeLoader):
    """PyYAML's own parser under the counting composer. Its scanner reads a run of `[` or `{` all
    at once, before the composer sees any, so it stops at MAX_DEPTH itself."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._start_counting()

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise LimitError(problem=_DEPTH, problem_mark=self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


PyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
LOADERS: list[Loader] = [PyLoader]
if yaml.__with_libyaml__:

    class CLoader(_Counting, yaml.CSafeLoader):  # the composer's methods come before CParser's own
        """libyaml's parser under the counting composer."""

        def __init__(self, stream: str) -> None:
            yaml.CSafeLoader.__init__(self, stream)
            self._start_counting()

    CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    LOADERS.insert(0, CLoader)


def _where(source: str, mark: Any) -> str:
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source


def _load(text: str, loader: Loader) -> Any:
    """The document; on an error from libyaml, PyYAML's own parser reads it again to say what is
    wrong: it is what `wandb sweep` reads with, so the message (and the verdict, should the two
    parsers ever disagree) is the same with or without libyaml. Only bad input pays for this."""
    try:
        return yaml.load(text, Loader=loader)
    except LimitError:
        raise
    except yaml.YAMLError:
        if loader is PyLoader:
            raise
        return yaml.load(text, Loader=PyLoader)


def parse_sweep_yaml(text: str, source: str = "<string>", loader: Loader | None = None) -> dict:
    """Parse YAML text; SweepConfigError('source:line:col: problem') on bad YAML, a non-mapping, or
    input past a bound. `loader` (one of LOADERS) is for tests; the fastest is the default."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SweepConfigError(_too_big(source))
    try:
        data = _load(text, loader or LOADERS[0])
    except LimitError as exc:
        raise SweepConfigError(f"{_where(source, exc.problem_mark)}: {exc.problem}") from None
    except RecursionError:  # unreachable below MAX_DEPTH; a last guard, so it is never a traceback
        raise SweepConfigError(
            f"{source}: nested too deeply to read; a sweep nests parameters a few levels deep, so flatten it"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or one_line(exc)
        context = getattr(exc, "context", None)
        detail = f"{what} ({context})" if context and context not in what else what
        raise SweepConfigError(f"{_where(source, mark)}: invalid YAML: {detail}") from None
    if data is None:
        raise SweepConfigError(f"{source}: the file is empty; a sweep config needs at least method: and parameters:")
    if not isinstance(data, dict):
        raise SweepConfigError(
            f"{source}: the top level must be a mapping (method:, parameters:, ...), got a {type(data).__name__}"
        )
    return data


def _too_big(source: str) -> str:
    return (
        f"{source}: larger than {MAX_FILE_BYTES // 2**20} MiB, the limit for a sweep config (a real one is a few "
        "KB); give long ranges as int_uniform or q_uniform bounds instead of listing every value"
    )


def load_sweep_file(path: str | os.PathLike[str]) -> dict:
    """Read a sweep YAML file (`wandb sweep` reads the same); see `parse_sweep_yaml` for errors.
    No more than MAX_FILE_BYTES + 1 bytes are read, whatever the file is (a FIFO, /dev/zero)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SweepConfigError(f"{path}: cannot read the sweep file ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SweepConfigError(_too_big(str(path)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SweepConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    return parse_sweep_yaml(text, str(path))
