"""The two error shapes of sweep-config checking: a `Problem` per bad key, and `SweepConfigError`."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence


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
    def from_problems(cls, problems: Sequence[Problem], source: str = "sweep config") -> "SweepConfigError":
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
