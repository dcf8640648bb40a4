"""Hostile and huge sweep YAML: every bound of `limits.py` refuses with one line naming it and the
fix, under libyaml's parser and PyYAML's own alike, and reading a real config is unchanged."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from agent.sweep_config import SweepConfigError, load_sweep_file, parse_sweep_yaml
from agent.sweep_config import loader as loader_module
from agent.sweep_config.limits import MAX_DEPTH, MAX_FILE_BYTES
from agent.sweep_config.loader import LOADERS

REPO = pathlib.Path(__file__).resolve().parents[2]
HEAD = "program: train.py\nmethod: grid\n"
BOTH = pytest.mark.parametrize("loader", LOADERS, ids=[c.__name__ for c in LOADERS])


def bomb(levels: int = 10, fan: int = 10) -> str:
    """Billion laughs: value i is `fan` aliases of value i-1, 10^10 nodes once written out."""
    items = ["&a0 [lol]"] + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    return HEAD + "parameters:\n  x:\n    values:\n" + "".join(f"      - {item}\n" for item in items)


def nested(depth: int) -> str:
    """`x:` holding lists nested `depth` deep (the document's own mapping is one more level)."""
    return "x: " + "[" * depth + "]" * depth + "\n"


def refusal(text: str, loader: type) -> str:
    with pytest.raises(SweepConfigError) as err:
        parse_sweep_yaml(text, "s.yaml", loader)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("s.yaml")
    return msg


def test_libyaml_parses_when_present_and_pyyaml_is_the_fallback():
    assert LOADERS[-1] is loader_module.PyLoader
    assert (LOADERS[0] is not loader_module.PyLoader) == yaml.__with_libyaml__


@BOTH
def test_an_alias_bomb_is_refused_at_its_line_before_it_expands(loader):
    msg = refusal(bomb(), loader)
    assert msg.startswith("s.yaml:11:") and "expands to more than 200,000 YAML nodes" in msg and "alias" in msg


@BOTH
def test_an_alias_inside_its_own_anchor_is_refused(loader):
    msg = refusal("a: &x [1, *x]\n", loader)
    assert "s.yaml:1:11" in msg and "inside its own anchor" in msg


@BOTH
def test_aliases_and_merge_keys_within_the_bound_still_read(loader):
    text = "base: &b {lr: 0.1, bs: 16}\nrun: {<<: *b, bs: 32}\nlrs: &l [1, 2]\nagain: *l\n"
    assert parse_sweep_yaml(text, "s.yaml", loader) == yaml.safe_load(text)


@BOTH
def test_nesting_60000_deep_is_refused_without_a_recursion_error(loader):
    msg = refusal(nested(60_000), loader)
    assert f"nesting deeper than {MAX_DEPTH} levels" in msg and "flatten" in msg


@BOTH
def test_nesting_is_bounded_at_exactly_max_depth_levels(loader):
    assert parse_sweep_yaml(nested(MAX_DEPTH - 1), "s.yaml", loader)["x"] is not None  # the mapping is one more
    assert "nesting deeper than" in refusal(nested(MAX_DEPTH), loader)


@BOTH
def test_nodes_past_the_bound_are_refused_as_they_are_read(loader, monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_NODES", 1_000)
    assert parse_sweep_yaml("x: [" + ", ".join(["1"] * 990) + "]\n", "s.yaml", loader)
    msg = refusal("x: [" + ", ".join(["1"] * 1_000) + "]\n", loader)
    assert "more than 1,000 YAML nodes" in msg


def test_a_file_past_the_size_bound_is_refused_unread(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("method: grid\n# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(SweepConfigError, match=r"big\.yaml: larger than 1 MiB.*int_uniform or q_uniform"):
        load_sweep_file(f)
    with pytest.raises(SweepConfigError, match="larger than 1 MiB"):
        parse_sweep_yaml(f.read_text(), "big.yaml")


@BOTH
def test_yaml_1_1_typing_is_wandbs_under_either_parser(loader):
    text = "a: 2e-4\nb: 2.0e-4\nc: 1e5\nd: on\ne: no\nf: 0x1f\ng: 1_000\nh: 010\ni: .inf\nj: 2020-01-02\nk: ~\n"
    got = parse_sweep_yaml(text, "s.yaml", loader)
    assert got == yaml.safe_load(text)  # what `wandb sweep` reads
    assert got["a"] == "2e-4" and got["b"] == 2.0e-4 and got["d"] is True and got["g"] == 1000


@pytest.mark.parametrize("path", sorted((REPO / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_reads_as_safe_load_reads_it(path):
    text = path.read_text()
    for loader in LOADERS:
        assert parse_sweep_yaml(text, path.name, loader) == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: [1,\nb: 2\n",
        "a: b: c\n",
        "a:\n  - 1\n - 2\n",
        "a: {b: 1\n",
        "\tx: 1\n",
        "- 1\nb: 2\n",
        "key: [a, b]]\n",
        "a: *nope\n",
        "a: 1\na: 2\n",
        "a: !!python/object:os.system x\n",
    ],
)
def test_bad_yaml_gets_the_same_one_line_error_under_either_parser(text):
    messages = {refusal(text, loader) for loader in LOADERS}
    assert len(messages) == 1, messages
    assert messages.pop().split(":")[1].isdigit()  # s.yaml:LINE:COL: ...
