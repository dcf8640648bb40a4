"""Which store an array may use: the embedded journal only when every task runs on this host.

The journal's writers serialize through a file lock, and a file lock does not hold across hosts
(Optuna's journal on NFS corrupts). So an array on a journal sweep must be pinned to the host
that holds the journal: its tasks may land only on this host (by --slurm-opt nodelist=, or a
partition whose one node is this host) and none may span several nodes. Anything SLURM cannot
confirm counts as several hosts. The rule is `journal_refusal`, pure; `placement_of` asks SLURM.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Optional

from agent.runners.slurm.request import SlurmRequest, max_nodes


@dataclass(frozen=True)
class Placement:
    host: str  # this host's short name, as SLURM names nodes
    hosts: Optional[frozenset[str]]  # the nodes a task may land on; None: SLURM did not say
    nodes_per_task: int  # the most nodes one task may span
    where: str  # how `hosts` was learned, for the message ("partition debug", "--slurm-opt nodelist")


def journal_refusal(sweep_id: str, journal: str, p: Placement) -> Optional[str]:
    """None when an array placed as `p` may share the journal at `journal`; else the one-line refusal."""
    fix = f", or pin the array here with --slurm-opt nodelist={p.host}"
    if p.nodes_per_task > 1:
        why, fix = f"each task may span {p.nodes_per_task} nodes (--nodes)", ""
    elif p.hosts is None:
        why = f"SLURM did not say which nodes {p.where} holds"
    elif p.hosts != {p.host}:
        shown = ", ".join(sorted(p.hosts)[:4]) + (", ..." if len(p.hosts) > 4 else "")
        why = f"its tasks may run on {shown} ({p.where}), not only on this host ({p.host})"
    else:
        return None
    return (
        f"sweep {sweep_id} is on the embedded journal {journal}, which only agents on one host may share "
        f"(a file lock does not hold across hosts), and {why}: create the sweep with --storage "
        f"postgresql://… and pass that to the agent too{fix}"
    )


def parse_partitions(text: str) -> dict[str, dict[str, str]]:
    """`scontrol show partition -o` output -> {name: its fields}."""
    out = {}
    for line in text.splitlines():
        fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if "PartitionName" in fields:
            out[fields["PartitionName"]] = fields
    return out


def this_host() -> str:
    return socket.gethostname().split(".")[0]


def placement_of(
    request: SlurmRequest, scontrol: Callable[..., str], env: Optional[Mapping[str, str]] = None
) -> Placement:
    """Where SLURM may run the array's tasks. `scontrol(*args)` runs scontrol and returns its output
    ('' when it fails); `env` is the submitting environment (sbatch reads SBATCH_PARTITION and
    SBATCH_CLUSTERS from it)."""
    env = os.environ if env is None else env
    nodes = max_nodes(request.directives.get("nodes"))
    clusters = request.directives.get("clusters") or env.get("SBATCH_CLUSTERS")
    if clusters:  # another cluster's nodes: nothing here can say which
        return Placement(this_host(), None, nodes, f"clusters {clusters}")
    if request.nodelist:
        expr, where = request.nodelist, "--slurm-opt nodelist"
    else:
        parts = parse_partitions(scontrol("show", "partition", "-o"))
        wanted = request.partition or env.get("SBATCH_PARTITION")
        names = wanted.split(",") if wanted else [n for n, f in parts.items() if f.get("Default") == "YES"]
        where = "partition " + ",".join(names) if names else "the default partition"
        exprs = [parts[n].get("Nodes", "") for n in names if n in parts]
        if not names or len(exprs) < len(names) or not all(exprs) or "ALL" in exprs:
            return Placement(this_host(), None, nodes, where)
        expr = ",".join(exprs)
    hosts = frozenset(h.split(".")[0] for h in scontrol("show", "hostnames", expr).split())
    return Placement(this_host(), hosts or None, nodes, where)
