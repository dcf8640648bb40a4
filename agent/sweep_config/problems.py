"""The error shapes of sweep-config checking: a `Problem` per bad key, `SweepConfigError`, and the
common kinds of problem (a wrong type, an unknown key, a value not in a list)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from .distributions import is_int

# PyYAML (YAML 1.1) reads `1e-5` and `1.0e5` as strings: a float needs a dot and a signed exponent.
_LOOKS_NUMERIC = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a sweep config, located by its YAML path (`parameters.lr.max`)."""

    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path or '<top level>'}: {self.message} (fix: {self.fix})"


class SweepConfigError(ValueError):
    """A sweep config that cannot be used; `str()` is one line, `problems` holds every finding."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()):
        super().__init__(message)
        self.problems = list(problems)

    @classmethod
    def from_problems(cls, problems: Sequence[Problem], source: str = "sweep config") -> SweepConfigError:
        first = str(problems[0]) if problems else "invalid"
        more = f" (+{len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        return cls(f"{source}: {first}{more}", problems)


def join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """' (did you mean `x`?)' when `word` is a near miss of one of `choices`, else ''."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def closest(word: object, choices: Iterable[str]) -> str | None:
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def json_int(v: Any) -> TypeGuard[int | float]:
    """JSON-schema "integer": an int, or a float with no fraction (draft-07), never a bool."""
    return is_int(v) or (isinstance(v, float) and v.is_integer())


def type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def number_problem(path: str, v: Any, what: str = "a number") -> Problem:
    if isinstance(v, str) and _LOOKS_NUMERIC.fullmatch(v.strip()):
        return Problem(
            path,
            f"'{v}' is a string, not {what} (YAML 1.1 reads '1e-5' as text)",
            "write it with a decimal point and a signed exponent, e.g. 1.0e-5 or 1.0e+3",
        )
    return Problem(path, f"must be {what}, got {type_name(v)} {v!r}", f"set it to {what}")


def enum_problem(path: str, v: Any, allowed: tuple, what: str) -> Problem:
    return Problem(
        path, f"{v!r} is not a valid {what}{did_you_mean(v, allowed)}", "use one of: " + ", ".join(map(str, allowed))
    )


def unknown_key(path: str, key: Any, allowed: tuple, where: str) -> Problem:
    return Problem(
        join(path, key),
        f"unknown key `{key}` in {where}{did_you_mean(key, allowed)}",
        f"rename it to `{closest(key, allowed)}`"
        if closest(key, allowed)
        else "remove it; allowed keys: " + ", ".join(allowed),
    )
