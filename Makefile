# The course's commands. README.md says what each is for.
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
STAGE := scripts/stage
SUBMISSIONS ?= submissions
RELEASE_DIR ?= dist/student
PORT ?= 8000

.PHONY: setup demo test lab book release grade clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q pip==26.3
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

demo: setup
	rm -rf runs/demo
	lmcourse train configs/demo.toml
	lmcourse serve --port $(PORT)

test: setup
	$(STAGE) "generated files match solutions/" lmcourse export --check
	$(STAGE) "book: executes every solution notebook" $(MAKE) --no-print-directory book
	$(STAGE) "tests: package, grading, browser" pytest -q --durations=10

lab: setup
	jupyter lab --ServerApp.ip=127.0.0.1

book: setup
	rm -rf _build
	jupyter-book build . --all -W -n --keep-going
	python scripts/execution_times.py

# make release REVEAL=03 also ships the reference code of chapters 00 to 03 (after their deadline).
release: setup
	rm -rf $(RELEASE_DIR)
	lmcourse release $(RELEASE_DIR)$(if $(REVEAL), --reveal-through $(REVEAL))

grade: setup
	lmcourse grade $(SUBMISSIONS)

clean:
	rm -rf _build dist grading
