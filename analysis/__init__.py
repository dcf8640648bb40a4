"""Sweep comparison reports: a backend's runs -> tidy tables -> statistics -> ReportData -> files.

    tables/    a sweep's runs as two tidy tables, read through any backend and cached (sources, tidy),
               and what the sweep config says about them (sweep: parameters, the compared key)
    stats/     pure statistics: paired comparisons and power (compare), seed cells (cells), expected
               validation performance (evp), importance, cost and the Pareto front, re-tests (retest)
    report/    ReportData, every number and sentence a report states (data), built in named stages
               (build: scope -> sections -> takeaways), the re-test's sentence (retest); pure
    render/    the files: report.json/.html/.md (documents, context, figures, pngs), CSVs (files),
               run pages (runpage), the progress payload live.js (live), a whole folder (outputs)
    commands/  what `sweepkit report` runs: write_report (report), --watch (watch), --publish (publish)

Each layer imports only those above it in this list (import contracts in pyproject.toml). Never
imports training code; the CLI imports it only inside `report`.
"""
