#!/usr/bin/env bash
# Build the images: the local Debian base (if missing), Asterisk 22, Prometheus, and
# with --service also the ivr service image. Layers are cached by Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${IVR_BASE_IMAGE:-ivr-base:sid}"
apt_opts="${IVR_APT_OPTS:--o Acquire::Check-Valid-Until=false}"
build() { docker build -q --network host --build-arg BASE_IMAGE="$base" --build-arg APT_OPTS="$apt_opts" "$@" >/dev/null; }

[ "$base" = "ivr-base:sid" ] && docker/build-base-image.sh "$base"
build -t ivr-asterisk:22 docker/asterisk
echo "image ivr-asterisk:22 ready"
# Debian's Prometheus, which tests/e2e/test_prometheus.py runs against the service.
build -t ivr-prometheus:sid docker/prometheus
echo "image ivr-prometheus:sid ready"

if [ "${1:-}" = "--service" ]; then
    # 1. the image's Python, 2. a wheelhouse for exactly that Python made by
    # the host's pip, 3. the service image installed offline from it.
    build --target python -t ivr-python:sid -f docker/ivr/Dockerfile .
    pyver="$(docker run --rm ivr-python:sid python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
    arch="$(uname -m)"
    rm -rf build/wheels && mkdir -p build/wheels
    deps="$(.venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml","rb"))["project"]["dependencies"]))')"
    # and what the image's `ivr native build` compiles with: the host's mypy version
    deps+=$'\n'"mypy==$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("mypy"))')"$'\n'"setuptools"
    mapfile -t deps_array <<<"$deps"
    .venv/bin/pip download -q -d build/wheels --only-binary=:all: \
        --python-version "$pyver" --implementation cp --abi "cp$pyver" --abi abi3 --abi none \
        --platform "manylinux2014_$arch" --platform "manylinux_2_17_$arch" --platform "manylinux_2_28_$arch" \
        --platform "manylinux_2_34_$arch" --platform any "${deps_array[@]}"
    .venv/bin/pip wheel -q --no-deps -w build/wheels .
    build --target service -t ivr-service:latest -f docker/ivr/Dockerfile .
    echo "image ivr-service:latest ready (Python ${pyver:0:1}.${pyver:1})"
fi
