#!/usr/bin/env bash
# Build the images: the local Debian base (if missing), Asterisk 22, and
# with --service also the ivr service image. Layers are cached by Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${IVR_BASE_IMAGE:-ivr-base:sid}"
apt_opts="${IVR_APT_OPTS:--o Acquire::Check-Valid-Until=false}"
[ "$base" = "ivr-base:sid" ] && docker/build-base-image.sh "$base"
docker build -q --network host --build-arg BASE_IMAGE="$base" --build-arg APT_OPTS="$apt_opts" \
    -t ivr-asterisk:22 docker/asterisk >/dev/null
echo "image ivr-asterisk:22 ready"
if [ "${1:-}" = "--service" ]; then
    docker build -q --network host --build-arg BASE_IMAGE="$base" --build-arg APT_OPTS="$apt_opts" \
        -t ivr-service:latest -f docker/ivr/Dockerfile . >/dev/null
    echo "image ivr-service:latest ready"
fi
