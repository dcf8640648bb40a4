"""Sweep and run ids are names in the store, never paths: one rule (`paths.checked_id`), checked by
the backend lookup for every command and by the store before an id becomes a folder; W&B paths
keep their own parser, which takes no `..` or absolute path either."""

from __future__ import annotations

import pytest

from agent.backends import BackendError, get_backend
from agent.backends.local.store import new_id, sweep_dir
from agent.backends.wandb.api import is_wandb_path, split_path
from agent.paths import BadId, checked_id, inside

NOT_IDS = ["../../victim", "/abs/path", "..", ".", "", "abcd123", "abcd12345", "ABCD1234", "abcd-123", "abc/1234",
           "abcd123\n", " abcd1234", "abcd\x001234", "ab..1234"]  # fmt: skip


def test_new_ids_pass_the_rule():
    for _ in range(200):
        assert checked_id(new_id()) and checked_id(new_id(), "run")


@pytest.mark.parametrize("text", NOT_IDS)
def test_anything_but_eight_of_a_z_0_9_is_no_id(text):
    with pytest.raises(BadId, match="is not a local sweep id"):
        checked_id(text)


@pytest.mark.parametrize("text", NOT_IDS)
def test_the_store_refuses_a_path_for_an_id(home, text):
    with pytest.raises(BackendError, match="is not a local sweep id"):
        sweep_dir(text)


def test_an_id_that_links_out_of_the_store_is_refused(tmp_path):
    root = tmp_path / "sweeps"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "abcd1234").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BadId, match="leads outside it"):
        inside(root, "abcd1234")
    assert inside(root, "wxyz6789") == root / "wxyz6789"


FILE_PATHS = ["../../x", "../a/b", "/abs/path", "/e/p/id", "./p/id", "e/../id", "e/p/i d", "e\\p/id",
              "https://wandb.ai/e/p/sweeps/id", "a/b/c/d", "e//id"]  # fmt: skip
WANDB_PATHS = ["e/p/abc12345", "p/abc12345", "e/p/sweeps/abc12345", "e/p/abc12345/", "my-team/proj.v2/x1"]


def test_the_wandb_parser_takes_wandb_paths_and_no_file_path():
    assert all(is_wandb_path(text) for text in WANDB_PATHS)
    for text in FILE_PATHS:
        assert not is_wandb_path(text), text
        with pytest.raises(BackendError, match="bad W&B sweep path"):
            split_path(text)


def test_the_backend_lookup_checks_the_id_against_the_backends_form(home):
    assert get_backend("abcd1234").name == "local"
    assert get_backend("local", sweep_id="abcd1234").name == "local"
    assert get_backend("wandb", sweep_id="abcd1234").name == "wandb"
    for name in (None, "local"):
        with pytest.raises(BackendError, match="is not a local sweep id"):
            get_backend(name or "../../victim", sweep_id="../../victim")
    with pytest.raises(BackendError, match="not a local sweep id"):
        get_backend("local", sweep_id="e/p/abcd1234")
    with pytest.raises(BackendError, match="bad W&B sweep path"):
        get_backend("wandb", sweep_id="../../victim")
