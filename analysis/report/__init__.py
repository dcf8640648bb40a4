"""`ReportData`: every number and sentence a report states, built from the tidy tables. Pure: no I/O."""
