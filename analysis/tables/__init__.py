"""A sweep's runs as the two tidy tables (runs, history): read through a backend, cached, secrets removed."""
