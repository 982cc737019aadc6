# Two commands: `make demo` and `make test`. Each creates .venv when it is missing,
# installs the project (editable, with its test extras) when setup.cfg changed, and runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lq_ext-installed

.PHONY: install demo test bench docs clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[tests]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lq-ext demo

# Two malloc arenas per process: TensorFlow's threads otherwise grow one arena each, and the
# model-heavy workers' memory with them (one worker was OOM-killed at 12.6 GB).
# The zoo's full-size models first, in workers of their own: a worker keeps 1-2 GB of every
# zoo file it ran even after clear_session, gc and malloc_trim (measured file by file), so
# the rest of the suite starts in fresh workers.
PYTEST := MALLOC_ARENA_MAX=2 $(BIN)/python -m pytest -q -n 2 --dist loadfile
test: $(STAMP)
	$(PYTEST) tests/zoo
	$(PYTEST) --ignore=tests/zoo tests

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_models.py

# The documentation site (MkDocs + Material + mkdocstrings) into site/; strict: a broken
# link or reference fails the build. Offline: no plugin fetches anything.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) build *.egg-info results
