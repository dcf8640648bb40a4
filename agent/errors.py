"""The one way an exception becomes a line a user reads."""

from __future__ import annotations


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-blank line of the exception's message, cut to `limit` characters; its type's
    name when the message is empty (an exception with no text must not break the handler)."""
    for line in str(exc).splitlines():
        if line.strip():
            text = line.strip()
            return text if len(text) <= limit else text[: limit - 1] + "…"
    return type(exc).__name__


def with_hint(message: str, hint: str) -> str:
    """`message (hint)`, unless the message already carries that hint (errors re-raised through
    several layers must not say it twice)."""
    return message if hint in message else f"{message} ({hint})"
