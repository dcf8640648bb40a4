"""Pure statistics: tables in, numbers out; no plotting, no files, no backend (import contracts)."""
