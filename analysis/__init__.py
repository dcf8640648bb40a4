"""Sweep comparison reports: a backend's runs -> tidy tables -> statistics -> figures -> files.

    sources.py    runs and histories through any backend, cached on disk
    tidy.py       the two tidy tables (runs, history), secrets removed
    stats.py      pure statistics: EVP, paired intervals, importance
    build.py      `build_report`: tables + sweep config -> ReportData (numbers and sentences)
    data.py       ReportData, the scale values are stated in
    takeaways.py  one sentence per figure, from the numbers
    figures.py    plotly figures (report.html); pngs.py: matplotlib (report.md)
    render.py     report.json, CSVs, HTML and Markdown files
    report.py     `write_report`, the entry `sweepkit report` calls
    publish.py    --publish: the summary handed to the backend

Never imports training code; the CLI imports it only inside `report`.
"""
