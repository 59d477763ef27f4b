#!/usr/bin/env bash
# Installs the system packages the integration tests need: Dovecot's IMAP server.
set -euo pipefail
if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Dovecot is missing. Install it with: sudo apt-get install -y dovecot-imapd" >&2
    exit 1
fi
echo "Installing dovecot-imapd (integration tests run a private Dovecot on 127.0.0.1)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the package from starting a system-wide Dovecot.
had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
[ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
apt-get install -y -qq dovecot-imapd >/dev/null
[ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
