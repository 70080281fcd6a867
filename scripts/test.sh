#!/usr/bin/env bash
# `make test`: install what is missing (Debian packages, Docker engine, the
# Python environment, images), then run the whole suite: unit tests and the
# end-to-end tests against the real Asterisk 22 in Docker. Extra arguments go
# to pytest (e.g. `scripts/test.sh tests/unit -k catalog`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh
scripts/build-images.sh
exec .venv/bin/pytest "${@:-tests}"
