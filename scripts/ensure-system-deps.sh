#!/usr/bin/env bash
# Installs the system packages the integration tests need: Dovecot's IMAP server, and
# Debian's Chromium (+ its driver) for the operator console's browser tests. Idempotent:
# only what is missing is installed.
set -euo pipefail
need_dovecot=0
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    need_dovecot=1
fi
# Playwright drives this browser (executable_path=/usr/bin/chromium); never `playwright install`.
browser=()
[ -x /usr/bin/chromium ] || browser+=(chromium)
command -v chromedriver >/dev/null 2>&1 || browser+=(chromium-driver)
if [ "$need_dovecot" = 0 ] && [ "${#browser[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    missing="${browser[*]}"
    [ "$need_dovecot" = 0 ] || missing="dovecot-imapd $missing"
    echo "Missing system packages. Install them with: sudo apt-get install -y $missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ "$need_dovecot" = 1 ]; then
    echo "Installing dovecot-imapd (integration tests run a private Dovecot on 127.0.0.1)..."
    # policy-rc.d keeps the package from starting a system-wide Dovecot.
    had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
    [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
    apt-get install -y -qq dovecot-imapd >/dev/null
    [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
fi
if [ "${#browser[@]}" -gt 0 ]; then
    echo "Installing ${browser[*]} (headless Chromium for the console's browser tests)..."
    apt-get install -y -qq --no-install-recommends "${browser[@]}" >/dev/null
fi
