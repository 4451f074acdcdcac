# Shortcuts for the README's commands.
VENV ?= .venv

$(VENV)/bin/syndicate: pyproject.toml
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[test]'
	touch $@

.PHONY: run test bench smoke
run: $(VENV)/bin/syndicate
	$(VENV)/bin/syndicate run

test: $(VENV)/bin/syndicate
	$(VENV)/bin/python -m pytest

bench: $(VENV)/bin/syndicate
	$(VENV)/bin/python -m bench

smoke: $(VENV)/bin/syndicate
	$(VENV)/bin/python tests/smoke.py --syndicate $(VENV)/bin/syndicate
