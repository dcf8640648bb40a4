"""Trial arguments in every form wandb agent's macros produce: ${args}, ${args_no_equals},
${args_no_hyphens}, ${args_no_boolean_flags}, ${args_json} and ${args_json_file}."""

from __future__ import annotations

import json
from typing import Any

from agent.sweep_config.limits import MAX_FILE_BYTES
from agent.trial.config import FIELDS, ConfigError, base_type
from agent.trial.flags import FLAGS


def _json(text: str | bytes, what: str) -> Any:
    """JSON, or ConfigError for nesting deeper than Python's parser can follow (never a RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ConfigError(f"{what} is nested too deeply to read; give one flat object of key: value") from None


def _load_json_file(path: str) -> dict[str, Any]:
    """A params file (${args_json_file}): one object, read no further than a sweep config may be long."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read args JSON file {path!r}: {e.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            f"args JSON file {path!r} is larger than {MAX_FILE_BYTES // 2**20} MiB; one run's params are a few "
            "hundred bytes, so pass that run's key: value pairs only"
        )
    try:
        data = _json(raw, f"args JSON file {path!r}")
    except json.JSONDecodeError as e:
        raise ConfigError(f"args JSON file {path!r} is not valid JSON (line {e.lineno}): {e.msg}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"args JSON file {path!r} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"args JSON file {path!r} must hold one object of key: value")
    return data


def _known(name: str) -> str:
    """`name` as the table or FLAGS spell it (`--max-steps` is max_steps), else as given."""
    snake = name.replace("-", "_")
    return snake if snake in FIELDS or snake in FLAGS else name


def _is_flag(name: str) -> bool:
    """A boolean key or flag: bare, it means true."""
    flag = FLAGS.get(name)
    if flag is not None and flag.rename:
        name = flag.rename
    elif flag is not None:
        return flag.boolean
    return name in FIELDS and base_type(name)[0] is bool


def parse_argv(argv: list[str]) -> dict[str, Any]:
    """Raw key -> value from every W&B agent macro form: ${args}, ${args_no_equals},
    ${args_no_hyphens}, ${args_no_boolean_flags}, ${args_json} and ${args_json_file}."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok.startswith("{"):
            try:
                data = _json(tok, "a JSON argument")
            except json.JSONDecodeError as e:
                raise ConfigError(f"argument {tok[:40]!r} looks like JSON but does not parse: {e.msg}") from None
            if not isinstance(data, dict):
                raise ConfigError("a JSON argument must be one object of key: value")
            out.update(data)
            continue
        if not tok.startswith("-") and "=" not in tok:
            if tok.endswith(".json"):
                out.update(_load_json_file(tok))
                continue
            raise ConfigError(f"argument {tok!r} is not key=value, --key=value or a .json file")
        body = tok.lstrip("-")
        if not body:
            raise ConfigError(f"argument {tok!r} has no key")
        value: str | bool
        if "=" in body:
            name, value = body.split("=", 1)
        else:
            name = _known(body)
            nxt = argv[i] if i < len(argv) else None
            is_flag = _is_flag(name)
            if nxt is not None and not nxt.startswith("--") and not (is_flag and "=" in nxt):
                value = nxt
                i += 1
            elif is_flag or (name not in FIELDS and name not in FLAGS):
                # ${args_no_boolean_flags} and HfArgumentParser: a bare --flag means true. An unknown
                # name goes on too, so the one error it gets is "unknown key", with the closest ones.
                value = True
            else:
                raise ConfigError(f"argument {tok!r} has no value; write --{name}=VALUE")
        name = _known(name)
        if name == "args_json_file":
            out.update(_load_json_file(str(value)))
        else:
            out[name] = value
    return out
