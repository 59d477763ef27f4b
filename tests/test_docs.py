"""One definition per error code: the WIT, errors.py, the guest and the docs name the same set."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import prx_email.errors as errors
from prx_email.errors import CODES, EmailError, ErrorCode
from prx_email_guest import _codes as guest_codes
from prx_email_guest._catalogue import TOOL_NAMES

ROOT = Path(__file__).resolve().parents[1]


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wit_error_cases() -> dict[str, list[str]]:
    """Case name → the ``///`` lines just above it, parsed from wit/types.wit."""
    text = (ROOT / "wit" / "types.wit").read_text(encoding="utf-8")
    body = re.search(r"variant email-error \{(.*?)\n    \}", text, re.S)
    assert body is not None, "no email-error variant in wit/types.wit"
    cases: dict[str, list[str]] = {}
    doc: list[str] = []
    for line in body.group(1).splitlines():
        line = line.strip()
        if line.startswith("///"):
            doc.append(line[3:].strip())
        elif m := re.fullmatch(r"([a-z][a-z0-9-]*)\(error-info\),", line):
            cases[m.group(1)] = doc
            doc = []
    return cases


def _table_codes(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    block = text.split("<!-- error-codes:begin -->")[1].split("<!-- error-codes:end -->")[0]
    return re.findall(r"^\| `(EMAIL_[A-Z_]+)` \|", block, re.M)


def _exception_cases() -> set[str]:
    found: set[str] = set()
    todo: list[type[EmailError]] = [EmailError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__ == errors.__name__ and cls is not EmailError:
            found.add(cls.code.value)
    return found


def test_every_wit_case_says_when_it_happens() -> None:
    cases = _wit_error_cases()
    assert len(cases) == len(ErrorCode)
    undocumented = [case for case, doc in cases.items() if not " ".join(doc).strip()]
    assert not undocumented


def test_wit_errors_py_guest_and_readme_name_the_same_codes() -> None:
    wit = list(_wit_error_cases())
    # errors.py: the enum and the exception classes (one class per case)
    assert [c.value for c in ErrorCode] == wit
    assert _exception_cases() == set(wit)
    # the guest: derived from the bindings, in contract order
    assert list(guest_codes.HOST_CASES) == wit
    assert set(guest_codes.GUEST_ONLY_CODES) == set(errors.GUEST_ONLY_CODES)
    # the one table: WIT cases + guest-only + sandbox codes, nothing else
    expected = {f"EMAIL_{c.upper().replace('-', '_')}" for c in wit}
    expected |= set(errors.GUEST_ONLY_CODES) | set(errors.SANDBOX_CODES)
    assert set(CODES) == expected
    assert len(CODES) == len(expected)
    for name in ("README.md", "docs/tools.md"):
        table = _table_codes(ROOT / name)
        assert table == list(CODES), name


def test_every_code_has_a_meaning_and_a_default_hint() -> None:
    for info in CODES.values():
        assert info.meaning.strip() and info.hint.strip(), info.code
        assert set(info.source.split(", ")) <= {"guest", "host", "runtime"}, info.code


def test_the_guests_default_hints_are_the_hosts() -> None:
    for code, hint in guest_codes.DEFAULT_HINTS.items():
        assert CODES[code].hint == hint, code


def test_the_sandbox_takes_its_codes_from_errors_py() -> None:
    from prx_email import runtime

    assert {
        runtime.SANDBOX_TIMEOUT,
        runtime.SANDBOX_MEMORY,
        runtime.SANDBOX_TRAP,
        runtime.SANDBOX_OUTPUT,
        runtime.SANDBOX_CLOSED,
    } == set(errors.SANDBOX_CODES)


def test_generated_tables_are_up_to_date() -> None:
    assert _gen_docs().main(["--check"]) == 0


def test_a_stale_table_is_detected() -> None:
    gen = _gen_docs()
    text = "intro\n<!-- error-codes:begin -->\n| old |\n<!-- error-codes:end -->\nafter\n"
    new = gen.render(text, gen.readme_table(), "x")
    assert new != text
    assert new.startswith("intro\n") and new.endswith("after\n")
    assert gen.render(new, gen.readme_table(), "x") == new


def test_every_tool_is_documented() -> None:
    for name in ("README.md", "docs/tools.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        for tool in TOOL_NAMES:
            assert f"`{tool}`" in text, (name, tool)


def test_every_python_snippet_in_the_docs_compiles() -> None:
    """A newcomer pastes them: each ```python block of the README and docs/ is valid Python
    (an ``async for`` outside an ``async def`` once made the README's a SyntaxError)."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    blocks = 0
    for path in files:
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), re.S)):
            compile(code, f"{path.name}[python block {i}]", "exec")
            blocks += 1
    assert blocks >= 2
