# The two commands (see README):
#   make up    build and start Asterisk 22 + the ivr service with the demo catalog
#   make test  install what is missing, then run every test (unit and end to end)
.PHONY: up down test unit lint

up:
	scripts/up.sh

down:
	scripts/down.sh

test:
	scripts/test.sh

# Quick loops for developers (no PBX needed).
unit:
	scripts/setup-host.sh >/dev/null && .venv/bin/pytest tests/unit -q

lint:
	.venv/bin/ruff check ivr tests bench && .venv/bin/mypy
