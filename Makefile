# `make test` and `make demo` do all set-up themselves on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sweepkit-installed
# CPU wheel on dev/CI boxes; a plain `torch` would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: venv test test-fast demo bench clean system-deps

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# chromium (report rendering test) and postgresql (shared-store test); no-ops when present or not root.
system-deps:
	@bash scripts/system_deps.sh

test: venv system-deps
	@. scripts/test_env.sh && $(PY) -m pytest -q -ra

test-fast: venv
	$(PY) -m pytest -q -ra -m "not slow and not postgres and not chromium"

demo: venv
	@bash scripts/demo.sh

bench: venv
	$(PY) -m benchmarks.sweep_throughput --mode cpu
	$(PY) -m benchmarks.trial_overhead
	$(PY) -m benchmarks.report_scale

clean:
	rm -rf $(VENV) .sweepkit out *.egg-info
