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
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

table() { "$BIN/python" scripts/demo_table.py; }
pretty() { "$BIN/python" scripts/demo_table.py --json "${1:-40}"; }

say prx-email import examples/sample.mbox
cli import examples/sample.mbox --account 1 --folder INBOX

say "prx-email call email.list '{\"account_id\": 1, \"limit\": 5}'"
cli call email.list '{"account_id": 1, "limit": 5}' | table

say "prx-email call email.search '{\"account_id\": 1, \"query\": \"invoice\"}'"
cli call email.search '{"account_id": 1, "query": "invoice"}' | table

first_id=$(cli call email.search '{"account_id": 1, "query": "invoice", "limit": 1}' \
    | "$BIN/python" -c 'import json,sys; print(json.load(sys.stdin)["data"]["messages"][0]["id"])')
say "prx-email call email.get '{\"account_id\": 1, \"id\": $first_id}'"
cli call email.get "{\"account_id\": 1, \"id\": $first_id}" | pretty 30

say "prx-email call email.send '{\"account_id\": 1, \"to\": \"friend@example.net\", ...}'"
if cli call email.send '{"account_id": 1, "to": ["friend@example.net"], "subject": "Hi", "body_text": "Hello"}' | pretty; then
    echo "unexpected: the send was not refused" >&2; exit 1
fi
printf '\nThe host refused the send: real network is off unless the operator sets PRX_EMAIL_ENABLE_REAL_NETWORK=1.\n'
printf 'Nothing was queued: '
cli call email.outbox '{"account_id": 1}' | "$BIN/python" -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["entries"]), "outbox rows")'
