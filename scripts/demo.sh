#!/usr/bin/env bash
# `make demo`: import the sample mailbox, then drive the sandboxed plugin through the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DB=demo-data/demo.db
CFG=examples/demo.toml
mkdir -p demo-data
rm -f "$DB" "$DB-wal" "$DB-shm"
unset PRX_EMAIL_ENABLE_REAL_NETWORK

cli() { "$BIN/prx-email" --db "$DB" --config "$CFG" "$@"; }
show() {
    printf '\n\033[1m$ prx-email call %s %s\033[0m\n' "$1" "$2"
    cli call "$1" "$2" | "$BIN/python" -m json.tool --no-ensure-ascii | head -n "${3:-40}" || true
}

printf '\033[1m$ prx-email import examples/sample.mbox\033[0m\n'
cli import examples/sample.mbox --account 1 --folder INBOX

show email.list '{"account_id": 1, "limit": 3}'
show email.search '{"account_id": 1, "query": "invoice"}' 30
first_id=$(cli call email.search '{"account_id": 1, "query": "invoice", "limit": 1}' \
    | "$BIN/python" -c 'import json,sys; print(json.load(sys.stdin)["data"]["messages"][0]["id"])')
show email.get "{\"account_id\": 1, \"id\": $first_id}" 30
show email.send '{"account_id": 1, "to": ["friend@example.net"], "subject": "Hi", "body_text": "Hello"}'
printf '\nThe send above was refused by the host: real network is off unless the operator sets PRX_EMAIL_ENABLE_REAL_NETWORK=1.\n'
