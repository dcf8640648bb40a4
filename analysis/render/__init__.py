"""Files a reader opens, from `ReportData` and the run tables: report.html/.md/.json, CSVs, run pages,
live.js. Formats the numbers the report computed; computes no statistics (import contracts)."""
