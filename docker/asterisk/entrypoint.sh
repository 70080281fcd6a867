#!/bin/sh
# Start Asterisk in the foreground as the unprivileged `asterisk` user.
#
# The host's run directory is mounted on /srv/ivr: etc/ (written by
# `ivr render`, read-only for Asterisk), log/ (messages.log, queue_log),
# lib/ (astdb: persistent queue members), sounds/ (built prompts).
set -eu
root=/srv/ivr
if [ ! -f "$root/etc/asterisk.conf" ]; then
    echo "ivr: $root/etc/asterisk.conf is missing: mount the run directory (ivr render --out RUN/etc) on $root" >&2
    exit 78
fi
for d in "$root/log" "$root/lib" /var/spool/asterisk /var/run/asterisk; do
    mkdir -p "$d"
    chown -R asterisk:asterisk "$d"
done
mkdir -p "$root/sounds"
exec asterisk -f -C "$root/etc/asterisk.conf" -U asterisk -G asterisk "$@"
