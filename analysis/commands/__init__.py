"""What `sweepkit report` runs: `report.write_report` (one report), `watch.Watcher` (--watch), `publish`."""
