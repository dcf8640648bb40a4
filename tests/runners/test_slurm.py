"""`sweepkit agent --slurm N` without a cluster: the options' checks, the script, the store rule,
reading SLURM's answers. (The real cluster runs in tests/e2e/test_slurm.py.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.backends.base import SweepInfo
from agent.runners import options
from agent.runners.gpus import LaunchError, parse_gpus, visible_devices
from agent.runners.slurm import describe, task_label, write_array
from agent.runners.slurm.jobs import JobView, TaskState, parse_sacct, parse_scontrol, range_size
from agent.runners.slurm.placement import Placement, journal_refusal, placement_of
from agent.runners.slurm.request import SlurmError, request_from, time_limit_s
from agent.runners.slurm.script import ArrayScript, render, task_command, warning_lead_s
from tests.helpers import make_sweep, sk, status

DATA = Path(__file__).parent / "data"


def values(**given):
    """`sweepkit agent`'s parsed options, as click hands them over (every option present)."""
    out = {o.dest: o.default for o in options.OPTIONS}
    out["slurm_opt"] = ()
    out.update(given)
    return out


# -- the options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("30", 1800), ("5:30", 330), ("2:00:00", 7200), ("1-0", 86400), ("1-2:30", 95400), ("0-0:0:45", 45)],
)
def test_time_limits_in_sbatch_formats(text, seconds):
    assert time_limit_s(text) == seconds


def test_no_time_limit():
    assert time_limit_s("UNLIMITED") is None and time_limit_s("infinite") is None and time_limit_s("0") is None


@pytest.mark.parametrize(
    "given, culprit",
    [
        (dict(slurm=0), "--slurm 0"),
        (dict(slurm=-2), "--slurm -2"),
        (dict(slurm=2, time="1h"), "--time '1h'"),
        (dict(slurm=2, time="1:2:3:4"), "--time"),
        (dict(slurm=2, slurm_parallel=0), "--slurm-parallel 0"),
        (dict(slurm=2, cpus_per_task=0), "--cpus-per-task 0"),
        (dict(slurm=2, mem="lots"), "--mem 'lots'"),
        (dict(slurm=2, gpus_per_task="a100"), "--gpus-per-task 'a100'"),
        (dict(slurm=2, slurm_opt=("constraint",)), "--slurm-opt 'constraint'"),
        (dict(slurm=2, slurm_opt=("=x",)), "--slurm-opt '=x'"),
        (dict(slurm=2, slurm_opt=("partition=gpu",)), "use --partition"),
        (dict(slurm=2, slurm_opt=("array=0-9",)), "--slurm N"),
        (dict(time="10"), "--time applies to --slurm N"),
        (dict(slurm_opt=("qos=x",)), "--slurm-opt applies to --slurm N"),
    ],
)
def test_bad_requests_are_one_line_errors_naming_the_option(given, culprit):
    with pytest.raises(SlurmError) as err:
        request_from(values(**given))
    assert culprit in str(err.value) and "\n" not in str(err.value)


def test_a_request_in_sbatch_terms():
    r = request_from(
        values(
            slurm=4,
            slurm_parallel=2,
            partition="gpu",
            time="4:00:00",
            gpus_per_task="a100:1",
            cpus_per_task=8,
            mem="64G",
            account="proj",
            qos="high",
            requeue=True,
            slurm_opt=("--constraint=ib", "nodelist=n[1-2]"),
        )
    )
    assert (r.tasks, r.parallel, r.time_s, r.partition, r.nodelist) == (4, 2, 14400, "gpu", "n[1-2]")
    assert r.directives == {
        "partition": "gpu",
        "time": "4:00:00",
        "gpus-per-task": "a100:1",
        "cpus-per-task": "8",
        "mem": "64G",
        "account": "proj",
        "qos": "high",
        "requeue": None,
        "constraint": "ib",
        "nodelist": "n[1-2]",
    }


# -- the script -----------------------------------------------------------------------------


def script_for(request, **kw) -> str:
    base = dict(
        sweep_id="abc12345",
        request=request,
        command=task_command("/opt/venv/bin/python", "abc12345", values(count=1, heartbeat_timeout=20.0)),
        workdir="/work/my project",
        log_dir="/home/u/.sweepkit/agents/abc12345/slurm",
        env={"SWEEPKIT_HOME": "/home/u/.sweepkit", "SWEEPKIT_STORAGE": "postgresql://u:p w@db/sk"},
        origin="sweepkit agent abc12345 --slurm 4",
    )
    return render(ArrayScript(**{**base, **kw}))


def test_the_script_carries_every_sbatch_line_its_env_and_execs_the_agent():
    text = script_for(request_from(values(slurm=4, slurm_parallel=2, time="1:00:00", requeue=True)))
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    sbatch = [ln for ln in lines if ln.startswith("#SBATCH")]
    assert sbatch == [
        "#SBATCH --job-name=sweepkit-abc12345",
        "#SBATCH --array=0-3%2",
        "#SBATCH --output=/home/u/.sweepkit/agents/abc12345/slurm/%A_%a.out",
        '#SBATCH --chdir="/work/my project"',
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --time=1:00:00",
        "#SBATCH --requeue",
    ]
    assert "export SWEEPKIT_HOME=/home/u/.sweepkit" in lines
    assert "export SWEEPKIT_TIME_WARNING_S=120" in lines  # so the agent can say "time limit in 120 s"
    assert "export SWEEPKIT_STORAGE='postgresql://u:p w@db/sk'" in lines
    assert lines[-1] == ("exec /opt/venv/bin/python -m agent.cli agent abc12345 --count 1 --heartbeat-timeout 20.0")
    assert "Written by: sweepkit agent abc12345 --slurm 4" in text
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0  # valid shell


def test_a_user_sbatch_option_replaces_ours_and_short_limits_get_an_earlier_warning():
    text = script_for(request_from(values(slurm=1, time="3", slurm_opt=("signal=B:USR1@300", "output=/x/%j.out"))))
    sbatch = [ln for ln in text.splitlines() if ln.startswith("#SBATCH")]
    assert "#SBATCH --signal=B:USR1@300" in sbatch and "#SBATCH --output=/x/%j.out" in sbatch
    assert len([ln for ln in sbatch if ln.startswith("#SBATCH --signal")]) == 1
    assert "#SBATCH --array=0-0" in sbatch
    assert "export SWEEPKIT_TIME_WARNING_S=300" in text.splitlines()  # the user's lead, as SLURM will use it
    other = script_for(request_from(values(slurm=1, slurm_opt=("signal=B:TERM@60",))))
    assert "SWEEPKIT_TIME_WARNING_S" not in other  # no USR1 asked for: nothing to say
    assert warning_lead_s(180) == 90 and warning_lead_s(None) == 120 and warning_lead_s(3600) == 120


def test_each_task_runs_the_agent_with_its_options_and_per_gpu_uses_the_task_gpus():
    argv = task_command(
        "/py", "abc12345", values(per_gpu="4", storage="postgresql://u:secret@db/sk", count=3, no_sweep_id=True)
    )
    assert argv == ["/py", "-m", "agent.cli", "agent", "abc12345", "--count", "3", "--no-sweep-id", "--gpus", "all",
                    "--per-gpu", "4"]  # fmt: skip
    assert "secret" not in " ".join(argv)  # the store's URL travels in the environment
    workers = task_command("/py", "abc12345", values(workers=2, verbose=True))
    assert workers[5:] == ["--verbose", "--workers", "2"]


def test_a_wandb_sweep_script_runs_sweepkit_agent_on_the_wandb_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SWEEPKIT_STORAGE", raising=False)
    path = "ent/proj/s1a2b3c4"
    script, request = write_array(
        path, values(slurm=8, count=1, project="proj", gpus_per_task="1", per_gpu="2"), python="/py"
    )
    assert script.parent == tmp_path / "home" / "agents" / "ent_proj_s1a2b3c4" / "slurm"
    text = script.read_text()
    assert text.splitlines()[-1] == (
        "exec /py -m agent.cli agent ent/proj/s1a2b3c4 --count 1 --project proj --gpus all --per-gpu 2"
    )
    assert "#SBATCH --job-name=sweepkit-ent_proj_s1a2b3c4" in text and "#SBATCH --gpus-per-task=1" in text
    assert "#SBATCH --array=0-7" in text
    assert "nodelist" not in text and "SWEEPKIT_STORAGE" not in text  # W&B's server holds the sweep
    assert f"export SWEEPKIT_HOME={tmp_path / 'home'}" in text
    assert request.tasks == 8


def test_a_script_holding_the_store_password_is_private(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / "home"))
    script, _ = write_array("abc12345", values(slurm=2, storage="postgresql://u:pw@db/sk"), python="/py")
    assert script.stat().st_mode & 0o777 == 0o600
    assert "export SWEEPKIT_STORAGE=postgresql://u:pw@db/sk" in script.read_text()


def test_bad_launcher_options_are_refused_before_submitting(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path))
    with pytest.raises(LaunchError, match="not both"):
        write_array("e/p/x", values(slurm=2, gpus="all", workers=2))
    with pytest.raises(LaunchError, match="--per-gpu"):
        write_array("e/p/x", values(slurm=2, per_gpu="lots"))


# -- GPUs inside a task ---------------------------------------------------------------------


def test_gpus_all_in_a_task_means_the_gpus_slurm_granted_it():
    # SLURM gave this task physical GPUs 2 and 5 of 8: the workers go there, never on 0..7
    assert parse_gpus("all", 8, env={"CUDA_VISIBLE_DEVICES": "2,5"}) == ["2", "5"]
    assert parse_gpus("1", 8, env={"CUDA_VISIBLE_DEVICES": "2,5"}) == ["5"]  # CUDA's indices: within the grant
    uuids = "GPU-8a1f,GPU-77c2"
    assert parse_gpus("all", 8, env={"CUDA_VISIBLE_DEVICES": uuids}) == ["GPU-8a1f", "GPU-77c2"]
    with pytest.raises(LaunchError, match="no GPU 2 .CUDA_VISIBLE_DEVICES grants 2"):
        parse_gpus("0,2", 8, env={"CUDA_VISIBLE_DEVICES": "2,5"})
    for none in ("", "-1", "NoDevFiles"):
        with pytest.raises(LaunchError, match="grants none"):
            parse_gpus("all", 8, env={"CUDA_VISIBLE_DEVICES": none})
    assert parse_gpus("all", 3, env={}) == ["0", "1", "2"]  # unset: the machine's GPUs
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "0,1,-1,3"}) == ["0", "1"]  # CUDA stops at -1


# -- the store rule -------------------------------------------------------------------------


def test_which_stores_bind_agents_to_one_host(home):
    from agent.backends import get_backend

    local = get_backend("local")
    sid = local.create_sweep({"method": "grid", "parameters": {"a": {"values": [1]}}, "command": ["x"]})
    info = local.sweep(sid)
    assert local.host_bound_store(info) == info.path and Path(info.path).is_dir()  # the embedded journal
    served = SweepInfo(id=sid, backend="local", config={}, path="postgresql+psycopg2://u@db:5432/sk")
    assert local.host_bound_store(served) is None
    assert local.host_bound_store(SweepInfo(id=sid, backend="local", config={}, path="sqlite:////x/db")) is not None
    wandb = get_backend("wandb")
    assert wandb.host_bound_store(SweepInfo(id="x", backend="wandb", config={}, path=str(home))) is None


def test_a_journal_array_is_checked_and_pinned_to_this_host(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("agent.runners.slurm.placement.this_host", lambda: "vm")
    monkeypatch.setattr("agent.runners.slurm.scontrol_text", fake_scontrol)
    with pytest.raises(SlurmError, match="journal /j.*partition gpu.*--storage postgresql://"):
        write_array("abc12345", values(slurm=2, partition="gpu"), host_bound="/j", python="/py")
    script, _ = write_array("abc12345", values(slurm=2), host_bound="/j", python="/py")
    assert "#SBATCH --nodelist=vm" in script.read_text()  # what was checked stays true when resubmitted


@pytest.mark.parametrize(
    "hosts, nodes, allowed",
    [
        ({"vm"}, 1, True),  # pinned to this host, or a partition whose one node is this host
        ({"vm", "n2"}, 1, False),  # a partition of several nodes
        ({"n2"}, 1, False),  # one node, but not the one holding the journal
        (None, 1, False),  # SLURM did not say: count it as several hosts
        ({"vm"}, 2, False),  # a task spanning nodes
    ],
)
def test_the_journal_only_for_an_array_pinned_to_this_host(hosts, nodes, allowed):
    p = Placement("vm", frozenset(hosts) if hosts else None, nodes, "partition debug")
    refusal = journal_refusal("abc12345", "/h/.sweepkit/sweeps/abc12345", p)
    assert (refusal is None) == allowed
    if refusal:
        assert "--storage postgresql://" in refusal and "abc12345" in refusal and "\n" not in refusal


PARTITIONS = (
    "PartitionName=debug AllowGroups=ALL Default=YES MaxTime=UNLIMITED Nodes=vm State=UP TotalNodes=1\n"
    "PartitionName=gpu AllowGroups=ALL Default=NO Nodes=gpu[01-02] State=UP TotalNodes=2\n"
)


def fake_scontrol(*args):
    if args[:2] == ("show", "partition"):
        return PARTITIONS
    if args[:2] == ("show", "hostnames"):
        return {"vm": "vm\n", "gpu[01-02]": "gpu01\ngpu02\n", "vm,n9": "vm\nn9\n"}[args[2]]
    raise AssertionError(args)


def test_where_slurm_may_place_the_tasks(monkeypatch):
    monkeypatch.setattr("agent.runners.slurm.placement.this_host", lambda: "vm")
    default = placement_of(request_from(values(slurm=2)), fake_scontrol, env={})
    assert (default.hosts, default.where) == ({"vm"}, "partition debug")
    gpu = placement_of(request_from(values(slurm=2, partition="gpu")), fake_scontrol, env={})
    assert gpu.hosts == {"gpu01", "gpu02"}
    by_env = placement_of(request_from(values(slurm=2)), fake_scontrol, env={"SBATCH_PARTITION": "gpu"})
    assert by_env.hosts == {"gpu01", "gpu02"}  # sbatch reads SBATCH_PARTITION: so does the rule
    pinned = placement_of(request_from(values(slurm=2, slurm_opt=("nodelist=vm,n9",))), fake_scontrol, env={})
    assert pinned.hosts == {"vm", "n9"}
    spans = placement_of(request_from(values(slurm=2, slurm_opt=("nodes=1-3",))), fake_scontrol, env={})
    assert spans.nodes_per_task == 3
    unknown = placement_of(request_from(values(slurm=2, partition="nosuch")), fake_scontrol, env={})
    assert unknown.hosts is None
    for other in (
        placement_of(request_from(values(slurm=2, slurm_opt=("clusters=big",))), fake_scontrol, env={}),
        placement_of(request_from(values(slurm=2)), fake_scontrol, env={"SBATCH_CLUSTERS": "big"}),
    ):
        assert other.hosts is None and other.where == "clusters big"  # another cluster: not this host


# -- reading SLURM's answers ----------------------------------------------------------------


def test_task_states_from_scontrol():
    tasks = parse_scontrol((DATA / "scontrol_show_job_array.txt").read_text())  # a real 6-task array, %2
    assert [(t.job_id, t.task, t.state, t.count, t.bucket) for t in tasks] == [
        ("33", "3-5%2", "PENDING", 3, "pending"),
        ("33", "2", "RUNNING", 1, "running"),
        ("33", "1", "CANCELLED", 1, "failed"),
        ("33", "0", "RUNNING", 1, "running"),
    ]
    assert tasks[0].reason == "JobArrayTaskLimit" and tasks[1].node == "vm" and tasks[2].exit_code == "0:15"
    assert JobView("33", tasks, submitted=6).counts() == {"pending": 3, "running": 2, "done": 0, "failed": 1}


def test_task_states_from_sacct():
    text = "7_0|COMPLETED|0:0|n1\n7_1|CANCELLED by 0|0:15|n2\n7_[2-4]|PENDING|0:0|None assigned\n7_5|TIMEOUT|0:0|n1\n"
    tasks = parse_sacct(text)
    assert [(t.task, t.state, t.count, t.bucket, t.node) for t in tasks] == [
        ("0", "COMPLETED", 1, "done", "n1"),
        ("1", "CANCELLED", 1, "failed", "n2"),
        ("2-4", "PENDING", 3, "pending", ""),
        ("5", "TIMEOUT", 1, "failed", "n1"),
    ]


def test_array_ranges():
    assert [range_size(s) for s in ("3", "0-7%2", "1,4-6", "0-9:3", "[2-3]")] == [1, 8, 4, 4, 2]


def test_status_lines_for_a_job():
    view = JobView(
        "12",
        [TaskState("12", "0", "COMPLETED"), TaskState("12", "1", "FAILED", exit_code="1:0", node="n1")],
        submitted=4,
        script="/h/agents/s/slurm/x.sbatch",
    )
    assert describe(view) == [
        "slurm job 12 (4 tasks): 0 pending, 0 running, 1 done, 1 failed, 2 unknown",
        "  task 1: FAILED exit 1:0 on n1",
        "  script: /h/agents/s/slurm/x.sbatch; output: /h/agents/s/slurm/12_<task>.out",
    ]
    gone = JobView("13", submitted=2, source="none", note="no longer known to SLURM")
    assert describe(gone) == ["slurm job 13 (2 tasks): no longer known to SLURM"]


def test_each_task_keeps_its_launcher_files_apart():
    assert task_label({"SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "3", "SLURM_JOB_ID": "10"}) == "slurm-7_3"
    assert task_label({"SLURM_JOB_ID": "10"}) == "slurm-10"
    assert task_label({}) is None


# -- the CLI --------------------------------------------------------------------------------

GRID = """
    program: s.py
    command: ["${interpreter}", "${program}", "${args_json}"]
    method: grid
    parameters:
      a: {values: [1, 2]}
"""


@pytest.mark.parametrize(
    "args, culprit",
    [
        (["--slurm", "0"], "--slurm 0"),
        (["--partition", "gpu", "--slurm-opt", "constraint"], "--partition applies to --slurm N"),
    ],
)
def test_bad_slurm_options_are_one_line_errors_before_anything_else(home, args, culprit):
    from click.testing import CliRunner

    from agent.cli import cli

    res = CliRunner().invoke(cli, ["agent", "nosuch00", *args])  # checked before the sweep is looked up
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0] and lines[0].startswith("sweepkit: error:"), res.stderr


@pytest.mark.slow
def test_a_multi_node_array_on_the_journal_is_refused_and_submits_nothing(tmp_path):
    (tmp_path / "s.py").write_text("import sys\n")
    sid = make_sweep(tmp_path, GRID)
    res = sk(tmp_path, "agent", sid, "--slurm", "2", "--slurm-opt", "nodes=2")
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "embedded journal" in line and "--storage postgresql://" in line and "2 nodes" in line
    assert not list((tmp_path / ".sweepkit" / "agents").glob("*/slurm/*.sbatch"))
    assert status(tmp_path, sid)["runs"] == []  # and nothing ran here either
