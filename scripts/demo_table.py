"""Show an envelope (stdin) for `make demo`: a message page as a small table, or
(`--json N`) the first N lines of the pretty JSON. Truncating here, not with `head`,
keeps the demo's pipelines free of SIGPIPE under `set -o pipefail`."""

import json
import sys

env = json.load(sys.stdin)
if len(sys.argv) == 3 and sys.argv[1] == "--json":
    lines = json.dumps(env, indent=4, ensure_ascii=False).splitlines()
    limit = int(sys.argv[2])
    print("\n".join(lines[:limit]) + ("\n  ..." if len(lines) > limit else ""))
    sys.exit(0 if env.get("ok") else 1)
if not env["ok"]:
    print(json.dumps(env, indent=2, ensure_ascii=False))
    sys.exit(1)
page = env["data"]
print(f"ok: {len(page['messages'])} message(s), next_cursor={page['next_cursor']!r}")
for m in page["messages"]:
    day = (m["date_iso"] or "")[:10]
    print(f"  id={m['id']:<3} {day}  {m['from'][:28]:<28}  {m['subject'][:48]}")
