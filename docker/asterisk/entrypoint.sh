#!/bin/sh
# Start Asterisk in the foreground as the unprivileged `asterisk` user.
#
# The host's run directory is mounted on /srv/ivr: etc/ (written by
# `ivr render`, read-only for Asterisk), log/ (messages.log, queue_log),
# lib/ (astdb: persistent queue members), sounds/ (built prompts).
set -eu
# Logs (messages.log, queue_log) and astdb: for Asterisk and root only.
umask 027
root=/srv/ivr
if [ ! -f "$root/etc/asterisk.conf" ]; then
    echo "ivr: $root/etc/asterisk.conf is missing: mount the run directory (ivr render --out RUN/etc) on $root" >&2
    exit 78
fi
for d in "$root/log" "$root/lib" /var/spool/asterisk /var/run/asterisk; do
    mkdir -p "$d"
    chown -R asterisk:asterisk "$d"
    chmod -R o-rwx "$d"
done
mkdir -p "$root/sounds"
# Asterisk's sounds for a language the image does not link yet (see the
# Dockerfile): sounds/<lang>/ built in the run directory, linked where Asterisk
# looks. Never replaces a directory the image has (en: the core sounds).
for dir in "$root"/sounds/*/; do
    lang="$(basename "$dir")"
    case "$lang" in [a-z][a-z] | [a-z][a-z]_[A-Za-z]*) ;; *) continue ;; esac
    target="/usr/share/asterisk/sounds/$lang"
    [ -e "$target" ] || [ -L "$target" ] || ln -s "$root/sounds/$lang" "$target"
done
exec asterisk -f -C "$root/etc/asterisk.conf" -U asterisk -G asterisk "$@"
