#!/usr/bin/env bash
# Make this machine ready to run and test ivr: Debian packages, a running
# Docker engine, the Python environment. Idempotent; needs root for apt and
# dockerd (CI runs as root).
#
#   docker.io   the engine (started with --bridge=none --iptables=false: every
#               container uses host networking, nothing needs a bridge)
#   debootstrap builds the base image where no container registry is reachable
#   sip-tester  SIPp: callers and agent seats in the end-to-end tests
#   espeak-ng, sox  prompt synthesis for `ivr prompts build`
#   chromium, fonts-wqy-microhei  the wallboard test (headless, CJK labels)
#   iproute2    ss: the recovery tests cut the AMI links (ss -K)
#   gcc         mypyc's C compiler: `ivr native build` compiles the hot paths
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(docker.io debootstrap sip-tester espeak-ng sox chromium fonts-wqy-microhei gcc iproute2 ${IVR_EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    echo "setup: starting dockerd (--bridge=none --iptables=false)"
    mkdir -p /var/log/ivr
    nohup dockerd --bridge=none --iptables=false >/var/log/ivr/dockerd.log 2>&1 &
    for _ in $(seq 1 100); do
        docker info >/dev/null 2>&1 && break
        sleep 0.2
    done
    docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start, see /var/log/ivr/dockerd.log" >&2; exit 1; }
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$python" -m venv .venv
fi
stamp=.venv/.ivr-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing the ivr package and its test tools into .venv"
    .venv/bin/pip install -q -U pip >/dev/null
    .venv/bin/pip install -q -e '.[test,bench,dev]' >/dev/null
    touch "$stamp"
fi
# The hot paths compiled with mypyc (ivr/native.py); a no-op while the build is
# fresh. Without a working compiler ivr runs as plain Python, only slower.
.venv/bin/ivr native build || echo "setup: ivr runs as plain Python (see above)"
