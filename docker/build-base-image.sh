#!/usr/bin/env bash
# Build the local Debian base image that every ivr image starts FROM.
#
# Why: a machine without a container registry cannot pull `debian:sid`, so we
# make the same thing with debootstrap (Debian's default mirror, as apt is
# configured on the host) and `docker import` it. A machine with registry
# access can skip this and pass `--build-arg BASE_IMAGE=debian:sid` instead.
#
# Usage: docker/build-base-image.sh [IMAGE_NAME]   (default: ivr-base:sid)
set -euo pipefail
image="${1:-${IVR_BASE_IMAGE:-ivr-base:sid}}"
suite="${IVR_BASE_SUITE:-sid}"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image already present"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }

rootfs="$(mktemp -d /tmp/ivr-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap --variant=minbase $suite -> $rootfs"
debootstrap --variant=minbase "$suite" "$rootfs" >/tmp/ivr-debootstrap.log 2>&1 || {
    echo "debootstrap failed, last lines of /tmp/ivr-debootstrap.log:" >&2
    tail -20 /tmp/ivr-debootstrap.log >&2
    exit 1
}
# Keep images small: no docs, no man pages, no apt caches.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
echo "base image $image built"
