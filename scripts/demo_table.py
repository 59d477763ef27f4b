"""Print a message-page envelope (stdin) as a small table, for `make demo`."""

import json
import sys

env = json.load(sys.stdin)
if not env["ok"]:
    print(json.dumps(env, indent=2, ensure_ascii=False))
    sys.exit(1)
page = env["data"]
print(f"ok: {len(page['messages'])} message(s), next_cursor={page['next_cursor']!r}")
for m in page["messages"]:
    day = (m["date_iso"] or "")[:10]
    print(f"  id={m['id']:<3} {day}  {m['from'][:28]:<28}  {m['subject'][:48]}")
