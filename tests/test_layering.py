"""Layering rules of issue 9, checked over the source tree's ASTs (no regex over text).

- SQL and sqlite types live only in ``store/``: above it, no ``import sqlite3``, no SQL
  string, no ``.execute*`` call with SQL, no ``db.connect()`` / ``db.transaction()``.
- ``store/`` imports neither ``services/`` nor ``mail.parse``.
- No module imports another package's private module or name (``from ..pkg._mod import x``,
  ``from ..pkg import _x``); a package's own (or an ancestor's) private modules are fine.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "host" / "prx_email"

_SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|WITH)\s"
    r"[\s\S]*\b(FROM|INTO|SET|TABLE|INDEX|TRANSACTION|AS|WHERE|VALUES)\b|^\s*(BEGIN|COMMIT|ROLLBACK)\s*$"
)
_DB_METHODS = {"connect", "transaction"}
_EXEC_METHODS = {"execute", "executemany", "executescript"}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants (prose, not SQL, whatever words they start with)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                out.add(id(value))
    return out


def _is_db(node: ast.expr) -> bool:
    """``db``, ``ctx.db``, ``self.ctx.db``, ``self._db``: a store Database by name."""
    if isinstance(node, ast.Name):
        return node.id in {"db", "_db"}
    return isinstance(node, ast.Attribute) and node.attr in {"db", "_db"}


def storage_violations(source: str, where: str = "<src>") -> list[str]:
    """What breaks the "SQL only in store/" rule in one module above the store."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    out: list[str] = []
    for node in ast.walk(tree):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            out += [f"{line}: import {a.name}" for a in node.names if a.name == "sqlite3"]
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlite3" and not node.level:
            out.append(f"{line}: from sqlite3 import ...")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs and _SQL.search(node.value):
                out.append(f"{line}: SQL {node.value[:40]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if func.attr in _DB_METHODS and _is_db(func.value):
                out.append(f"{line}: {ast.unparse(func)}() hands out a sqlite connection")
            elif func.attr in _EXEC_METHODS and node.args:
                first = node.args[0]
                if isinstance(first, ast.JoinedStr) or (
                    isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                    and _SQL.search(first.value)
                ):
                    out.append(f"{line}: {ast.unparse(func)}(<SQL>)")
    return out


def _modules(*, in_store: bool) -> list[Path]:
    store = ROOT / "store"
    return sorted(p for p in ROOT.rglob("*.py") if (store in p.parents) == in_store and p.is_file())


def test_no_sql_and_no_sqlite_types_above_the_store() -> None:
    found: list[str] = []
    for path in _modules(in_store=False):
        found += storage_violations(path.read_text(), str(path.relative_to(ROOT)))
    assert found == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import sqlite3",
        "from sqlite3 import Connection",
        'q = "SELECT id FROM messages WHERE uid = ?"',
        "rows = ctx.db.connect()",
        "with self.ctx.db.transaction() as tx: pass",
        "conn.execute(f'DELETE FROM {table}')",
        'tx.executemany("INSERT INTO t VALUES (?)", rows)',
    ],
)
def test_the_storage_scan_catches(snippet: str) -> None:
    assert storage_violations(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        'plugin.execute("email.list", {"account_id": 1})',  # the façade's execute, not SQL
        'def f():\n    """Select the folder, then update the cursor."""',
        'msg = "select a folder first"',
        "await client.connect()",
        "store = MessageStore(ctx.db)",
    ],
)
def test_the_storage_scan_leaves_alone(snippet: str) -> None:
    assert storage_violations(snippet) == []


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted module) of every import in ``path``."""
    pkg = ["prx_email", *path.relative_to(ROOT).parent.parts]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # `from . import _x` names a module, too
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names if a.name.startswith("_")]
    return out


def test_the_store_imports_neither_services_nor_the_mime_parser() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{line}: {mod}"
        for p in _modules(in_store=True)
        for line, mod in _imports(p)
        if mod.startswith(("prx_email.services", "prx_email.mail.parse"))
    ]
    assert found == []


def foreign_private(own: str, mod: str) -> bool:
    """Whether module ``mod`` (dotted) is, or is in, a private module outside package ``own``
    and its ancestors (a package's private helpers serve its subpackages too)."""
    parts = mod.split(".")
    if parts[0] != "prx_email":
        return False
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            # the package holding it: a private name's module is not a package
            pkg = parts[:i] if ROOT.joinpath(*parts[1:i]).is_dir() else parts[: i - 1]
            owner = ".".join(pkg)
            return not (own == owner or own.startswith(owner + "."))
    return False


@pytest.mark.parametrize(
    ("own", "mod", "foreign"),
    [
        ("prx_email.adapters.cli", "prx_email.adapters.ta._main", True),
        ("prx_email", "prx_email.runtime._sandbox", True),
        ("prx_email.services", "prx_email.mail.imap._quote", True),
        ("prx_email.mail", "prx_email.mail.imap._client", True),  # a parent, still outside
        ("prx_email.adapters.cli", "prx_email.adapters.ta._main._timeout", True),
        ("prx_email.adapters.ta", "prx_email.adapters.ta._main", False),
        ("prx_email.store", "prx_email.store.messages._SUMMARY", False),
        ("prx_email.services.attachments", "prx_email._lazy", False),
        ("prx_email.adapters.cli", "prx_email.adapters.ta", False),
    ],
)
def test_the_private_import_rule(own: str, mod: str, foreign: bool) -> None:
    assert foreign_private(own, mod) is foreign


def test_no_import_of_another_packages_private_module() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {mod}"
        for path in ROOT.rglob("*.py")
        for line, mod in _imports(path)
        if foreign_private(".".join(["prx_email", *path.relative_to(ROOT).parent.parts]), mod)
    ]
    assert found == []


def test_no_test_module_imports_another() -> None:
    """Shared test code lives in tests/helpers/ (or fixtures/), not in another test file."""
    tests = Path(__file__).resolve().parent
    found = [
        f"{path.name}:{node.lineno}"
        for path in tests.rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("test_"))
        or (isinstance(node, ast.Import) and any(a.name.startswith("test_") for a in node.names))
    ]
    assert found == []
