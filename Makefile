# Two set-up commands (README): `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# What running needs (`make run`, `make serve`): the package and its dependencies only.
$(BIN)/taskforce: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# What developing needs besides (`make test`, lint, bench, translations): the [dev] extra.
$(VENV)/.dev: $(BIN)/taskforce
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

.PHONY: install runtime run serve test lint bench i18n-extract i18n-update i18n-compile
runtime: $(BIN)/taskforce
install: $(VENV)/.dev

## Install and run the bot on SQLite in the console (no Slack or Telegram tokens needed).
run: runtime
	TASKFORCE_ADMINS=$${TASKFORCE_ADMINS:-console:$${USER:-you}} $(BIN)/taskforce shell --as $${USER:-you}

## Install and run the HTTP server (Slack/Telegram when their tokens are set).
serve: runtime
	$(BIN)/taskforce serve

## Install and run the whole test suite, with lint and type checks.
test: install
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Benchmarks (not part of the tests); prints one table of ratios.
bench: install
	$(BIN)/python -m bench

## Translations (README "Languages"): sentences into the template, into each language, compiled.
LOCALES := bot/locale
i18n-extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k N_ -k ngettext:1,2 --no-location \
		--sort-output --project Taskforce -o $(LOCALES)/taskforce.pot bot

i18n-update: i18n-extract
	$(BIN)/pybabel update -D taskforce -i $(LOCALES)/taskforce.pot -d $(LOCALES) \
		--no-fuzzy-matching --ignore-obsolete

i18n-compile: install
	$(BIN)/pybabel compile -D taskforce -d $(LOCALES) --statistics
