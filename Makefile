# `make test` and `make demo` do all set-up themselves on a fresh machine: venv, installs, services.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sweepkit-installed
# The CPU wheel on dev/CI boxes; a plain `torch` would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
# Three workers on the 2-core box: most tests wait on processes, not on the CPU (the suite: 773 s with
# two, 562 s with three, on this box).
PYTEST_WORKERS ?= 3
FAST   := not slow and not postgres and not chromium and not slurm

.PHONY: venv lint test test-fast test-optuna-range demo retest-demo bench clean clean-state system-deps

venv: $(STAMP)

$(STAMP): pyproject.toml setup.cfg scripts/setup_venv.sh
	@PYTHON=$(PYTHON) VENV=$(VENV) TORCH=$(TORCH) bash scripts/setup_venv.sh

# chromium (report rendering test), postgresql (shared-store test), slurm-wlm + munge (job-array tests);
# no-ops when present or not root.
system-deps:
	@bash scripts/system_deps.sh

# ruff (lint + format), the import contracts that keep the seams, and mypy on the typed core.
lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/lint-imports
	@$(VENV)/bin/mypy

# The services test_env.sh started (PostgreSQL, the SLURM cluster) are stopped whether pytest passed or
# not; pytest's exit code stays.
test: venv system-deps lint test-optuna-range
	@. scripts/test_env.sh && $(PY) -m pytest -q -ra -n $(PYTEST_WORKERS); rc=$$?; \
	if [ -n "$${SWEEPKIT_SLURM_OWNED:-}" ]; then bash scripts/stop_slurm.sh; fi; \
	if [ -n "$${SWEEPKIT_PG_OWNED:-}" ]; then bash scripts/stop_postgres.sh; fi; exit $$rc

# The backend's fast tests on the lowest and the newest Optuna the pin allows (private names move).
test-optuna-range: venv
	@VENV=$(VENV) PYTEST_WORKERS=$(PYTEST_WORKERS) bash scripts/test_optuna_range.sh

test-fast: venv
	@$(PY) -m pytest -q -ra -n $(PYTEST_WORKERS) -m "$(FAST)"

demo: venv
	@bash scripts/demo.sh

# After `make demo`: its top 2 configs on 3 fresh seeds, then the report with the re-test beside
# the sweep (SWEEP=<id> TOP=<k> SEEDS=<n> to choose).
retest-demo: venv
	@bash scripts/retest_demo.sh

bench: venv
	$(PY) -m benchmarks.sweep_throughput --mode cpu
	$(PY) -m benchmarks.trial_overhead
	$(PY) -m benchmarks.report_scale

# What a run leaves outside the checkout: the test PostgreSQL, the test SLURM cluster and the caches.
clean-state:
	@bash scripts/stop_postgres.sh
	@bash scripts/stop_slurm.sh
	rm -rf $${SWEEPKIT_CACHE:-$$HOME/.cache/sweepkit}

clean:
	rm -rf $(VENV) $(VENV).*.log .sweepkit out *.egg-info
