# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CATALOGS := $(wildcard bot/locales/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test test-moved-clock lint catalogs extract-messages clean

run: $(VENV)/.installed $(COMPILED)
	$(BIN)/intake run

# The suite on parallel workers (pytest-xdist): its end-to-end tests mostly wait on the
# processes they start, so there are more workers than the machine's two cores. `--dist
# load` hands the slowest tests out first (tests/conftest.py sorts them to the front).
# A plain `.venv/bin/pytest tests/some_file.py` runs in one process, without workers.
TEST_WORKERS ?= 3
PARALLEL := -n $(TEST_WORKERS) --dist load

test: $(VENV)/.installed-test $(COMPILED)
	$(BIN)/ruff check bot matching storage tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PARALLEL)

# The suite again with the clock moved by libfaketime (Debian package `faketime`), to show
# that no test depends on the date it runs: a new year's day, and a Brussels midnight that
# is still 28 February in UTC. A fixed offset (-m, +Ns) keeps time.sleep working and moves
# the test runner, the processes it starts and PostgreSQL together. One process, not the
# workers: under the moved clock and three workers an end-to-end walk once lost step with
# the bot's replies (2030 run, 7 Dec 2026); one at a time these runs have always passed.
MOVED_CLOCK ?= 2027-01-02T10:00:00Z 2030-02-28T23:30:00Z
test-moved-clock: $(VENV)/.installed-test $(COMPILED)
	@for moment in $(MOVED_CLOCK); do \
		offset=$$(( $$(date -d "$$moment" +%s) - $$(date +%s) )); \
		echo "== make test-moved-clock: the suite from $$moment (faketime -m -f +$${offset}s)"; \
		faketime -m -f "+$${offset}s" $(BIN)/pytest -q -p no:cacheprovider || exit 1; \
	done

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

catalogs: $(COMPILED)

# For developers who add or change messages: refresh the template and the catalogs.
extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 \
		--no-location --no-wrap --sort-output --project=citizen-intake-bot \
		-o bot/locales/messages.pot .
	$(BIN)/pybabel update -i bot/locales/messages.pot -d bot/locales -D messages --no-wrap \
		--ignore-obsolete

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find bot/locales -name '*.mo' -delete
