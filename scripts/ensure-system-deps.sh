#!/usr/bin/env bash
# Installs the system packages the integration tests need: Dovecot's IMAP server, and
# Debian's Chromium (+ its driver) for the operator console's browser tests. Idempotent:
# only what is missing is installed.
set -euo pipefail
missing=()
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    missing+=(dovecot-imapd)
fi
# Playwright drives this browser (executable_path); never `playwright install`.
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Missing system packages. Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "Installing ${missing[*]} (a private Dovecot on 127.0.0.1; headless Chromium for the console tests)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the package from starting a system-wide Dovecot.
had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
[ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
