"""The bounds on a sweep config, declared once, and why each is where it is.

A real sweep YAML is about a kilobyte: the four in `sweeps/` are 0.7-1.1 KB and 58-78 YAML nodes,
nest 5 levels deep (top level, parameters, a parameter, a list, a value) and make grids of 8-36
points; W&B's own examples are the same size. Each bound sits about a thousand times above that,
and low enough that input at the bound still reads in a few seconds and well under 200 MB:

- `MAX_FILE_BYTES`, 1 MiB: checked before parsing, so a 20 MB file costs nothing.
- `MAX_NODES`, 200,000 nodes counted as if every alias were written out: a YAML alias bomb
  (anchors of anchors, "billion laughs") is refused while it is composed, before anything is
  built; a plain file of short list items reaches the bound below 1 MiB. `sweepkit validate` of
  a file at this bound takes about 3 s and 180 MB in all (measured: benchmarks/README.md).
- `MAX_DEPTH`, 64 levels: refused as the parser goes down, far below Python's recursion limit
  (1,000 frames), which every later walk of the config (copying it, dumping it as YAML or JSON,
  checking it) spends two or three of per level.
- `MAX_GRID`, 10,000 points by default: each point of a grid is one run (a fine-tune of minutes),
  and each is queued in the sweep's store when the sweep is created, which alone takes 5-40 s for
  10,000 points on a 2-core box. The count is the product of the value lists' distinct sizes, so
  a bigger grid is refused without being built; a user who means it raises the bound with
  `--max-grid N` or `SWEEPKIT_MAX_GRID`.
"""

from __future__ import annotations

MAX_FILE_BYTES = 1 << 20
MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_GRID = 10_000
GRID_ENV = "SWEEPKIT_MAX_GRID"
GRID_OPTION = "--max-grid"
