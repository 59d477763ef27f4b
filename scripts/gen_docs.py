"""Regenerate the error-code tables of README.md and docs/tools.md from ``prx_email.errors``.

    .venv/bin/python scripts/gen_docs.py          # rewrite the tables in place
    .venv/bin/python scripts/gen_docs.py --check  # exit 1 if a file is out of date

Each table sits between ``<!-- error-codes:begin -->`` and ``<!-- error-codes:end -->``;
everything else in the files is left alone. tests/test_docs.py runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from prx_email.errors import CODES, CodeInfo

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- error-codes:begin -->"
END = "<!-- error-codes:end -->"
_BLOCK = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_table() -> str:
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| `{c.code}` | {_cell(c.meaning)} |" for c in CODES.values()]
    return "\n".join(rows)


def tools_table() -> str:
    rows = ["| code | from | meaning | default hint |", "|---|---|---|---|"]
    rows += [
        f"| `{c.code}` | {c.source} | {_cell(c.meaning)} | {_cell(c.hint)} |"
        for c in CODES.values()
    ]
    return "\n".join(rows)


TARGETS: dict[str, Callable[[], str]] = {
    "README.md": readme_table,
    "docs/tools.md": tools_table,
}


def render(text: str, table: str, name: str) -> str:
    """``text`` with its marked block replaced by ``table``."""
    if not _BLOCK.search(text):
        raise SystemExit(f"{name}: no {BEGIN} … {END} block")
    return _BLOCK.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for name, build in TARGETS.items():
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        new = render(text, build(), name)
        if new != text:
            stale.append(name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print("out of date (run scripts/gen_docs.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


__all__ = ["CodeInfo", "main", "readme_table", "render", "tools_table"]

if __name__ == "__main__":
    sys.exit(main())
