"""``prx-email tools [--table]``: the tool catalogue."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import open_from_args, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("tools", help="print the tool catalogue (JSON)")
    p.add_argument("--table", action="store_true", help="a readable table instead of JSON")
    p.set_defaults(handler=run)


_SHOWN = ("read_only", "destructive", "idempotent", "network")


def _effects(tool: dict[str, Any]) -> str:
    notes = tool.get("annotations")
    if isinstance(notes, dict):
        return ", ".join(k.replace("_", "-") for k in _SHOWN if notes.get(k)) or "-"
    effects = tool.get("effects")
    if isinstance(effects, dict):
        return ", ".join(k for k, v in sorted(effects.items()) if v) or "read-only"
    if isinstance(effects, list):
        return ", ".join(str(e) for e in effects) or "-"
    return str(effects) if effects else "-"


def _first_sentence(text: object) -> str:
    lines = str(text or "").strip().splitlines()
    first = lines[0] if lines else ""
    head, dot, _ = first.partition(". ")
    return head + "." if dot else first


def table(catalogue: list[dict[str, Any]]) -> str:
    rows = [("TOOL", "EFFECTS", "DESCRIPTION")]
    rows += [
        (str(t.get("name", "?")), _effects(t), _first_sentence(t.get("description")))
        for t in catalogue
    ]
    width0 = max(len(r[0]) for r in rows)
    width1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{width0}}  {b:<{width1}}  {c}".rstrip() for a, b, c in rows)


def run(args: argparse.Namespace) -> int:
    with open_from_args(args) as plugin:
        catalogue = plugin.describe()
    if args.table:
        print(table(catalogue))
    else:
        print_json(catalogue)
    return 0
