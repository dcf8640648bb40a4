"""Secret values never reach what shows a run's text: run pages, console.txt, live.js, report.md/html/json,
runs.csv and `sweepkit status`, whether the secret is in the shell that writes the report, only in the
run's own config, after a secret-looking key in the text, or in a well-known token shape."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agent.backends.base import Backend, RunHistory, RunRecord, SweepInfo
from agent.backends.local import LocalBackend
from agent.cli import cli
from agent.redact import REDACTED, config_secrets, env_secrets, is_secret_key, redact_text
from analysis.commands.report import write_report
from tests.helpers import run_in_process

WANDB_KEY = "0123456789abcdef0123456789abcdef01234567"  # the shape of a W&B API key
IN_CONFIG = "cfg-only-s3cr3t-9f8e7d"  # a secret the run's config holds and the reporting shell does not
HF = "hf_" + "A1b2C3d4" * 5
OPENAI = "sk-proj-" + "x9Y8z7W6" * 3
SHA = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"  # a hash in a path: not a secret
LEAKS = (WANDB_KEY, IN_CONFIG, HF, OPENAI, "hunter2")

SWEEP = {
    "method": "grid",
    "metric": {"name": "eval/accuracy", "goal": "maximize"},
    "parameters": {
        "model_name_or_path": {"values": ["tiny-bert", "tiny-distilbert"]},
        "seed": {"values": [1, 2]},
        "api_key": {"value": IN_CONFIG},
    },
}
CONSOLE = [
    f"config: {{'api_key': '{IN_CONFIG}', 'learning_rate': 0.1, 'pad_token_id': 0}}",  # the trial prints its config
    f"logged in with {IN_CONFIG}",  # the bare value: known from the run's config
    f"WANDB_API_KEY={WANDB_KEY}",
    f'{{"hub_token": "{HF}", "eval_loss": 0.5}}',
    f"python train.py --password hunter2 --seed 3 --openai {OPENAI}",
    f"saved /cache/{SHA}/model.bin at step 12345",
]


class SecretBackend(Backend):
    """Four runs that printed their secrets; one failed with a secret in its reason."""

    name = "memory"

    def create_sweep(self, config, *, project=None, entity=None):
        raise NotImplementedError

    def sweep(self, sweep_id):
        return SweepInfo(id=sweep_id, backend=self.name, config=SWEEP, state="finished")

    def list_sweeps(self):
        return []

    def host_bound_store(self, info):
        return None

    def runs(self, sweep_id):
        out = []
        for i, (model, seed) in enumerate((m, s) for m in ("tiny-bert", "tiny-distilbert") for s in (1, 2)):
            failed = i == 3
            out.append(
                RunRecord(
                    f"run{i}abcd",
                    "failed" if failed else "finished",
                    config={"model_name_or_path": model, "seed": seed, "api_key": IN_CONFIG},
                    summary={} if failed else {"eval/accuracy": 0.6 + i / 20},
                    reason=f"ValueError: bad api_key={IN_CONFIG} (token {HF})" if failed else None,
                    runtime_s=10.0,
                    data_key="v1",
                )
            )
        return out

    def history(self, sweep_id, run, keys=None):
        rows = [] if run.state == "failed" else [{"_step": s, "eval/accuracy": 0.5 + s / 10} for s in range(3)]
        return RunHistory(rows=rows, console=list(CONSOLE))

    def run_agent(self, sweep_id, *, runner, progress, settings=None):
        raise NotImplementedError


@pytest.fixture
def bare_shell(monkeypatch):
    """A shell without any of the run's secrets in its environment."""
    for var in ("WANDB_API_KEY", "HF_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_the_text_rules_catch_keyed_values_and_token_shapes_but_not_ids_hashes_or_numbers():
    assert redact_text(f"WANDB_API_KEY={WANDB_KEY}") == f"WANDB_API_KEY={REDACTED}"
    assert redact_text(f"{{'api_key': '{WANDB_KEY}', 'lr': 0.1}}") == f"{{'api_key': {REDACTED}, 'lr': 0.1}}"
    assert redact_text("--hub_token hf_x --lr 0.1 --use_auth_token --seed 3") == (
        f"--hub_token {REDACTED} --lr 0.1 --use_auth_token --seed 3"
    )
    assert redact_text("Authorization: Bearer abc.def") == f"Authorization: {REDACTED}"
    assert redact_text("postgresql://sk:pw12@db:5432/x") == f"postgresql://sk:{REDACTED}@db:5432/x"
    assert redact_text("https://h/p?x=1&api_key=abc&y=2") == f"https://h/p?x=1&api_key={REDACTED}&y=2"
    assert redact_text(f"token {HF} and {OPENAI}.") == f"token {REDACTED} and {REDACTED}."
    assert redact_text(f"known value {IN_CONFIG}!", {IN_CONFIG}) == f"known value {REDACTED}!"
    innocent = [
        f"saved /cache/{SHA}/model.bin run 1v1kk84i step 12345 loss=0.25",
        "KeyError: 'eval/accuracy'",
        "{'pad_token_id': 0, 'num_key_value_heads': 8, 'max_tokens': 128, 'tokenizer_name': 'bert'}",
        "risk-assessment-checkpoint-v2-final-final-final",
    ]
    for line in innocent:
        assert redact_text(line, {IN_CONFIG}) == line
    once = redact_text(CONSOLE[0], {IN_CONFIG})
    assert redact_text(once, {IN_CONFIG}) == once  # redacting twice changes nothing


def test_the_secret_rules_for_keys_environment_and_config():
    assert all(map(is_secret_key, ["api_key", "hub_token", "WANDB_API_KEY", "wandbApiKey", "PGPASSWORD"]))
    assert not any(map(is_secret_key, ["tokenizer_name", "max_tokens", "pad_token_id", "KeyError", "key_file"]))
    env = {"WANDB_API_KEY": WANDB_KEY, "HF_TOKEN": HF, "PWD": "/home/someone/work", "SHORT_TOKEN": "1"}
    assert env_secrets(env) == {WANDB_KEY, HF}
    assert config_secrets({"api_key": IN_CONFIG, "nested": {"password": {"value": "p" * 9}}, "lr": 0.1}) == {
        IN_CONFIG,
        "p" * 9,
    }


def test_a_report_written_from_a_bare_shell_shows_no_secret_on_any_surface(tmp_path, bare_shell):
    out = tmp_path / "report"
    write_report("s1", backend=SecretBackend(), out_dir=out)
    files = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file() and p.suffix != ".png"}
    for name in ("report.md", "report.html", "report.json", "runs.csv", "live.js"):
        assert name in files
    pages = [n for n in files if n.startswith("runs/") and n.endswith(".html")]
    consoles = [n for n in files if n.endswith(".console.txt")]
    assert len(pages) == 4 and len(consoles) == 4
    for name, path in files.items():
        text = path.read_text(errors="replace")
        for leak in LEAKS:
            assert leak not in text, f"{leak} leaked into {name}"
    console = files[consoles[0]].read_text()
    assert console.count(REDACTED) >= 6
    assert f"/cache/{SHA}/model.bin at step 12345" in console and "'learning_rate': 0.1" in console
    page = files[pages[0]].read_text()
    assert REDACTED in page and "step 12345" in page
    live = json.loads(files["live.js"].read_text().split("__skLive(", 1)[1].rsplit(");", 1)[0])
    (failed,) = [r for r in live["runs"] if r["state"] == "failed"]
    assert failed["reason"] == f"ValueError: bad api_key={REDACTED} (token {REDACTED})"
    assert "api\\_key=\\[redacted\\]" in files["report.md"].read_text()  # the failures table, escaped for markdown


def _leaky_trial(spec):
    raise ValueError(f"could not log in: api_key={spec.params['api_key']} HF {HF}")


def test_status_shows_no_secret_in_reasons_or_configs(home, bare_shell):
    b = LocalBackend()
    sid = b.create_sweep({"method": "grid", "parameters": {"x": {"values": [1]}, "api_key": {"value": IN_CONFIG}}})
    assert run_in_process(b, sid, _leaky_trial, max_consecutive_failures=1) == 1
    assert IN_CONFIG in b.runs(sid)[0].reason  # the store keeps what the trial said
    for args in ([], ["--json"]):
        res = CliRunner().invoke(cli, ["status", sid, *args], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert IN_CONFIG not in res.output and HF not in res.output and REDACTED in res.output
