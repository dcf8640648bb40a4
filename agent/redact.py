"""What counts as a secret, and how it is taken out of any text a run produced (console, reasons,
config values), declared once for the agent's commands and the reports.

Three kinds of secret are redacted, each replaced by `REDACTED`:
- known values: those of the secret-looking keys of the run's own config (so a report written from a
  shell without WANDB_API_KEY still hides the key the trial printed) and of secret environment
  variables of the process that shows the text (`SECRET_ENV`, and any name the key rule calls secret);
- the value after a secret-looking key in the text itself: `api_key=V`, `"hub_token": "V"`,
  `--password V`, `WANDB_API_KEY: V`, `Authorization: Bearer V`, and the password in `scheme://user:V@host`;
- well-known token shapes under any name: `hf_…` (Hugging Face), `sk-…` (OpenAI and similar),
  `ghp_…`/`github_pat_…` (GitHub), `AKIA…` (an AWS key id). A bare 40-hex string is not one (run
  logs are full of git and file hashes); a W&B key is caught by its key name or its known value.

Not redacted: a secret whose value is shorter than `MIN_SECRET_CHARS` and that is printed without its
key; a secret with no secret-looking key, no known value and no known shape.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8  # a known value this short would also match innocent text: only its key gives it away

# A key *segment* (split on non-alphanumerics) that names a credential: "hub_token", "api_key" and
# "MYSQL_PWD" do, "tokenizer_name", "max_tokens" and "KeyError" do not. A segment ending in one of
# `_SECRET_ENDINGS` does too: "wandbApiKey", "accessToken", "PGPASSWORD".
_SECRET_PARTS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "cookie",
    }
)
_SECRET_ENDINGS = ("apikey", "token", "secret", "password", "passwd")
# A later segment that makes the key name a property of the secret rather than the secret itself:
# "pad_token_id", "num_key_value_heads", "token_type_ids", "key_file", "api_key_env".
_DESCRIBES = frozenset(
    {"id", "ids", "type", "types", "len", "length", "size", "count", "heads", "dim"}
    | {"file", "path", "dir", "name", "env", "sock"}
)
# Environment variables holding credentials whatever their names say.
SECRET_ENV = (
    "WANDB_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "OPENAI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GITHUB_TOKEN",
    "PGPASSWORD",
)
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})  # the shell's working directories, not passwords

# A whole value of these shapes is a credential, whatever its key (a config value, a cell).
_VALUE_SHAPE = re.compile(
    r"^(?:[0-9a-f]{40}|(?:local|wandb)-[0-9a-f]{40,}|hf_[A-Za-z0-9]{30,}"
    r"|sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,})$"
)
# Inside text: only shapes no hash or run id has.
_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_-])(?:hf_[A-Za-z0-9]{30,}|sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{22,}|AKIA[0-9A-Z]{16})(?![A-Za-z0-9_-])"
)
_KEY = r"[A-Za-z_][A-Za-z0-9_.-]*"
_VALUE = r"""(?!\[redacted\])(?:(?:Bearer|Basic|Token|token)[ \t]+)?(?:"[^"\n]*"|'[^'\n]*'|[^\s,;&'"}\])]+)"""
# `key=V`, `key: V`, `"key": V`, `'key': V` (head: everything before the value).
_KEYED = re.compile(
    rf"""(?P<head>(?<![A-Za-z0-9_.-])(?P<q>["']?)(?P<key>{_KEY})(?P=q)[ \t]*[:=][ \t]*)(?P<value>{_VALUE})"""
)
# `--key V`, `--key=V` (a flag after it is not its value).
_FLAG = re.compile(rf"(?P<head>(?<![A-Za-z0-9_.-])--(?P<key>{_KEY})(?:=|[ \t]+))(?!-)(?P<value>{_VALUE})")
# Every rule above needs one of these in the text: most lines have none and are passed over in one scan.
_MAYBE = re.compile(r"(?i:key|token|secret|passw|pwd|credential|auth|cookie)|://|hf_|sk-|gh[pousr]_|github_pat_|AKIA")
_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@\s]+:)(?P<value>[^@/\s]+)(?=@)")


@functools.lru_cache(maxsize=4096)  # the same few keys, once per run of a 10,000-run sweep
def is_secret_key(key: str) -> bool:
    """Whether a config key or variable name names a credential (see `_SECRET_PARTS`, `_DESCRIBES`)."""
    parts = [p for p in re.split(r"[^0-9a-z]+", str(key).lower()) if p]
    for i, part in enumerate(parts):
        if (part in _SECRET_PARTS or part.endswith(_SECRET_ENDINGS)) and not _DESCRIBES.intersection(parts[i + 1 :]):
            return True
    return False


def env_secrets(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The values of this process's secret environment variables (`SECRET_ENV`, and any name the key
    rule calls secret), those long enough to look for in text."""
    environ = os.environ if environ is None else environ
    return frozenset(
        v
        for k, v in environ.items()
        if (k in SECRET_ENV or (is_secret_key(k) and k not in _NOT_SECRET_ENV)) and len(v) >= MIN_SECRET_CHARS
    )


def config_secrets(config: Mapping[str, Any] | None) -> frozenset[str]:
    """The values of a run's secret-looking config keys, at any depth (W&B's `{"value": v}` too)."""
    found: set[str] = set()

    def walk(d: Mapping[str, Any], secret: bool) -> None:
        for k, v in d.items():
            hidden = secret or is_secret_key(str(k))
            if isinstance(v, Mapping):
                walk(v, hidden)
            elif hidden and v is not None and not isinstance(v, bool) and len(str(v)) >= MIN_SECRET_CHARS:
                found.add(str(v))

    walk(config or {}, False)
    return frozenset(found)


@functools.lru_cache(maxsize=256)
def _known_pattern(known: frozenset[str]) -> re.Pattern[str] | None:
    values = sorted((v for v in known if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, values))) if values else None


def _sub_keyed(pattern: re.Pattern[str], text: str) -> str:
    """Each secret key's value in `text` replaced; after a key that is not secret the search goes on
    inside its value (`url=https://h/?api_key=V`)."""
    out, pos = [], 0
    while (m := pattern.search(text, pos)) is not None:
        if is_secret_key(m.group("key")):
            out.append(text[pos : m.start("value")] + REDACTED)
            pos = m.end("value")
        else:
            out.append(text[pos : m.end("head")])
            pos = m.end("head")
    return "".join(out) + text[pos:]


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every secret it shows replaced by REDACTED (see the module's docstring)."""
    if not text:
        return text
    pattern = _known_pattern(frozenset(known))
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    if not _MAYBE.search(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
    text = _sub_keyed(_FLAG, text)
    text = _sub_keyed(_KEYED, text)
    return _TOKEN_SHAPES.sub(REDACTED, text)


def redact_value(value: Any, known: Iterable[str] = ()) -> Any:
    """A cell or config value: a string of a credential's shape becomes REDACTED as a whole, any other
    string loses the secrets it shows; anything else is returned as is."""
    if not isinstance(value, str):
        return value
    if _VALUE_SHAPE.match(value.strip()):
        return REDACTED
    return redact_text(value, known)


def redact_mapping(d: Mapping[str, Any], known: Iterable[str] = ()) -> dict[str, Any]:
    """A config or summary to show: the value of each secret-looking key is REDACTED, every other
    string loses the secrets it shows, at any depth."""
    known = frozenset(known)

    def one(key: str, v: Any) -> Any:
        if is_secret_key(key):
            return REDACTED
        if isinstance(v, Mapping):
            return redact_mapping(v, known)
        if isinstance(v, list):
            return [one("", x) for x in v]
        return redact_value(v, known)

    return {k: one(str(k), v) for k, v in d.items()}
