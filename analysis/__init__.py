"""Sweep comparison reports: runs (W&B API or local store) -> tidy tables -> statistics -> files.

Entry points: `analysis.report.write_report` (the CLI's `sweepkit report`) and the pure
`analysis.model.build_report` (tests, benchmarks). Imported lazily by the CLI only.
"""
