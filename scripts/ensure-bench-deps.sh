#!/usr/bin/env bash
# Installs what bench/bench_sync.py compares against besides imaplib: mbsync (isync).
# Optional: without it (not root, no apt) the benchmark says so and skips that comparison.
set -uo pipefail
if command -v mbsync >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "mbsync is missing; the sync benchmark skips it (install: sudo apt-get install -y isync)" >&2
    exit 0
fi
echo "Installing isync (mbsync), the sync benchmark's second baseline..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq isync >/dev/null \
    || echo "could not install isync; the sync benchmark skips mbsync" >&2
exit 0
