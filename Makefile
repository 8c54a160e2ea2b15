# `make repro` sets everything up and runs the pipeline; `make test` runs the tests.
# Everything installs inside this folder: .venv/ (pinned Python packages) and
# plots/node_modules/ (the Vega libraries, for `dvc plots show` without internet).

VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test benchmark plots-check

setup: $(VENV)/.installed plots/offline.html

$(VENV)/.installed: requirements.txt
	python3.11 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

plots/offline.html: plots/package-lock.json plots/offline_template.py | $(VENV)/.installed
	npm ci --prefix plots --no-audit --no-fund --loglevel=error
	python plots/offline_template.py

repro: setup
	dvc repro

test: setup
	python -m pytest -q

benchmark: setup
	python benchmarks/run.py --rounds 3

plots-check: setup
	python plots/render_check.py --screenshot reports/plots.png
