#!/usr/bin/env bash
# `make down`: stop and remove the containers; run/ (logs, astdb) is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
compose() { if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi; }
compose down --timeout 10
