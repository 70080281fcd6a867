#!/usr/bin/env bash
# `make up`: Asterisk 22 + the ivr service with the demo catalog, on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
IVR_EXTRA_PACKAGES="docker-compose" scripts/setup-host.sh
scripts/build-images.sh --service
compose() { if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi; }

mkdir -p run
# The run directory holds secrets (run/etc, run/agi.key) and the customer
# directory: root's, and traversable by Asterisk's group only (docker/asterisk: gid 2001).
chgrp 2001 run && chmod 0750 run
.venv/bin/ivr render --out run/etc
.venv/bin/ivr prompts build --out run/sounds
.venv/bin/ivr directory demo
compose up -d --no-build

echo "waiting for Asterisk to report healthy..."
for _ in $(seq 1 120); do
    status="$(docker inspect -f '{{.State.Health.Status}}' ivr-asterisk 2>/dev/null || true)"
    [ "$status" = healthy ] && break
    sleep 0.5
done
[ "$status" = healthy ] || { echo "Asterisk is not healthy ($status): docker logs ivr-asterisk" >&2; exit 1; }
http_port="${IVR_HTTP_PORT:-8080}"
for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null || { echo "ivr service not healthy: docker logs ivr-service" >&2; exit 1; }

cat <<INFO

ivr is up.
  SIP (UDP)        127.0.0.1:${IVR_SIP_PORT:-5060}   trunk callers from ${IVR_TRUNK_ADDRESS:-127.0.0.2}, seats register as 1001..1030
  Seat 1001        user 1001, password $(.venv/bin/ivr seat-password 1001)   (ivr seat-password ID for any seat)
  Service numbers  95588, 4006695588, 4000095588, 4008795588
  HTTP             http://127.0.0.1:$http_port/healthz
  Wallboard        http://127.0.0.1:$http_port/wallboard#token=viewer-demo   (API: Bearer supervisor-demo)
  AMI              127.0.0.1:${IVR_AMI_PORT:-5038} (loopback only)   FastAGI 127.0.0.1:${IVR_AGI_PORT:-4573}
  Logs             run/log/messages.log, run/log/queue_log, docker logs ivr-service
  Stop             make down
INFO
if .venv/bin/python -c "from ivr.settings import load_settings; import sys; sys.exit(0 if load_settings().uses_demo_secrets else 1)"; then
    echo "  WARNING: demo secrets in use; set them in /etc/ivr/secrets.env before exposing anything (README, Secrets)."
fi
