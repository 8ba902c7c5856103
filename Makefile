# `make run` / `make test` from a fresh clone: create .venv, install, then act.
# Set-up is skipped when pyproject.toml and the dlib shim are unchanged (stamp file).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sketchlab-installed
PIPQ   := $(BIN)/python -m pip install --quiet --disable-pip-version-check

export QT_API := pyside6

.PHONY: setup run test lint bench bundle clean

setup: $(STAMP)

# dlib first, from the shim: face_recognition then finds `dlib` installed and pip
# never tries to compile it.
$(STAMP): pyproject.toml packaging/dlib-shim/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing SketchLab into $(VENV) (first time: ~2 min, 6 GB with CUDA torch)"
	$(PIPQ) ./packaging/dlib-shim
	$(PIPQ) -e '.[dev]'
	$(BIN)/python -m pip check
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/sketchlab

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The whole bench (minutes to hours: search at 1M, enrolment, pgvector), saved as JSON and
# turned into docs/benchmarks.md, the one home of the measured figures.
bench: $(STAMP)
	$(BIN)/sketchlab bench --json > docs/benchmarks.json.tmp
	mv docs/benchmarks.json.tmp docs/benchmarks.json
	$(BIN)/python tools/benchmarks_md.py docs/benchmarks.json

# dist/sketchlab/: a PyInstaller bundle that runs without Python or network, built from
# its own CPU-only venv in build/ (packaging/build_bundle.sh, packaging/README.md).
# Rebuilt only when something that goes into it changed.
BUNDLE_INPUTS := pyproject.toml $(addprefix packaging/,sketchlab.spec build_bundle.sh \
                   bundle_requirements.py entry.py rthook_sketchlab.py dlib-shim/pyproject.toml) \
                 $(shell find sketchlab models resources -type f ! -path '*/__pycache__/*' \
                   ! -path 'resources/screenshots/*' 2>/dev/null)
bundle: dist/sketchlab/sketchlab

dist/sketchlab/sketchlab: $(BUNDLE_INPUTS)
	./packaging/build_bundle.sh

clean:
	rm -rf $(VENV) build dist *.egg-info
