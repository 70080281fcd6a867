#!/bin/sh
# Healthy when Asterisk answers on its control socket, is fully booted and has
# the PJSIP stack loaded.
set -eu
asterisk -C /srv/ivr/etc/asterisk.conf -rx "core waitfullybooted" >/dev/null 2>&1
asterisk -C /srv/ivr/etc/asterisk.conf -rx "module show like res_pjsip.so" | grep -q "Running"
