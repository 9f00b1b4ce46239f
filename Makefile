# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DEEPSENTRY_DATA ?= $(abspath ../shared/datasets)

.PHONY: install demo test bench bench-tuning clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

demo: install
	$(BIN)/deepsentry demo --out demo-output

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/flows.py
	$(BIN)/python benchmarks/detect_process.py
	$(BIN)/python benchmarks/zeek_reader.py
	$(BIN)/python benchmarks/network_sizes.py
	$(BIN)/python benchmarks/malware.py
	$(BIN)/python benchmarks/logs.py
	$(BIN)/python benchmarks/log_formats.py
	$(BIN)/python benchmarks/captures.py
	$(BIN)/python benchmarks/service.py

bench-tuning: install
	$(BIN)/python benchmarks/operating_point.py
	$(BIN)/python benchmarks/ae_slope.py
	$(BIN)/python benchmarks/defaults.py
	$(BIN)/python benchmarks/malware_defaults.py
	$(BIN)/python benchmarks/tuning.py
	$(BIN)/python benchmarks/tuning.py --datasets nsl --novel-attacks
	$(BIN)/python benchmarks/log_cv.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
