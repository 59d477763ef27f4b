"""The envelope: always valid JSON of the documented shape, whatever comes in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers.guest import FakeHost, error_code, run
from hypothesis import given, settings
from hypothesis import strategies as st
from prx_email.errors import CODES
from prx_email_guest import TOOL_NAMES as TOOLS
from prx_email_guest import Guest, envelope_code, internal_error

NATIVE = Guest(None)
TOOL_NAMES = sorted(TOOLS)


def check_envelope(out: str) -> dict[str, Any]:
    """``out`` is UTF-8-encodable JSON with exactly the envelope keys, in order."""
    out.encode("utf-8")  # no lone surrogates can reach the WIT boundary
    env = json.loads(out)
    assert isinstance(env, dict)
    if env["ok"] is True:
        assert list(env) == ["ok", "data"]
    else:
        assert env["ok"] is False
        assert list(env) == ["ok", "error"]
        err = env["error"]
        assert list(err) == ["code", "message", "hint"]
        assert err["code"] in CODES
        assert isinstance(err["message"], str) and err["message"]
        assert isinstance(err["hint"], str) and err["hint"]
        assert "Traceback" not in err["message"]
    return env


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(deadline=None)
@given(tool=st.sampled_from(TOOL_NAMES), args=json_values)
def test_arbitrary_json_values_give_an_envelope(tool: str, args: object) -> None:
    check_envelope(NATIVE.execute(tool, json.dumps(args)))
    check_envelope(Guest(FakeHost()).execute(tool, json.dumps(args)))


@given(
    tool=st.sampled_from(TOOL_NAMES),
    args=st.dictionaries(
        st.sampled_from(
            ["account_id", "id", "limit", "to", "subject", "since", "folder", "attachments"]
        ),
        json_values,
        max_size=5,
    ),
)
def test_arbitrary_values_for_real_argument_names(tool: str, args: dict[str, object]) -> None:
    check_envelope(Guest(FakeHost()).execute(tool, json.dumps(args)))


@given(tool=st.sampled_from(TOOL_NAMES), raw=st.text())
def test_arbitrary_strings_give_an_envelope(tool: str, raw: str) -> None:
    check_envelope(Guest(FakeHost()).execute(tool, raw))


@given(tool=st.text(), raw=st.text(max_size=20))
def test_arbitrary_tool_names(tool: str, raw: str) -> None:
    env = check_envelope(NATIVE.execute(tool, raw))
    if tool not in TOOLS:
        assert error_code(env) == "EMAIL_UNSUPPORTED_TOOL"
        assert "email.list" in env["error"]["hint"]


@settings(max_examples=20, deadline=None)
@given(size=st.integers(min_value=0, max_value=200_000), ch=st.characters())
def test_huge_strings_in_every_text_argument(size: int, ch: str) -> None:
    text = ch * size
    for tool, name in [
        ("email.list", "folder"),
        ("email.search", "query"),
        ("email.send", "subject"),
    ]:
        env = check_envelope(
            Guest(FakeHost()).execute(tool, json.dumps({"account_id": 1, name: text}))
        )
        assert env["ok"] in (True, False)


def test_unknown_tool_hint_lists_every_tool() -> None:
    env = run(NATIVE, "email.lsit", {})
    assert error_code(env) == "EMAIL_UNSUPPORTED_TOOL"
    assert "did you mean email.list" in env["error"]["message"]
    for name in TOOLS:
        assert name in env["error"]["hint"]


def test_unknown_tool_is_reported_before_bad_json() -> None:
    assert error_code(run(NATIVE, "nope", "{")) == "EMAIL_UNSUPPORTED_TOOL"


@pytest.mark.parametrize(
    "raw", ["{", "", "   ", "nul", "{'a': 1}", '{"a": NaN}', "[1,]", "1" * 5000]
)
def test_malformed_json(raw: str) -> None:
    assert error_code(run(NATIVE, "email.list", raw)) == "EMAIL_INVALID_JSON"


@pytest.mark.parametrize("raw", ["[]", "1", '"x"', "null", "true"])
def test_json_that_is_not_an_object(raw: str) -> None:
    env = run(NATIVE, "email.list", raw)
    assert error_code(env) == "EMAIL_INVALID_ARGUMENT"
    assert "object" in env["error"]["message"]


def test_huge_args_json_is_refused_before_parsing() -> None:
    raw = '{"account_id": 1, "folder": "' + "x" * (8 * 1024 * 1024) + '"}'
    env = run(NATIVE, "email.list", raw)
    assert error_code(env) == "EMAIL_INVALID_ARGUMENT"
    assert "larger than" in env["error"]["message"]
    # Multi-byte characters count in bytes, not characters.
    wide = '{"folder": "' + "é" * (4 * 1024 * 1024 + 10) + '"}'
    assert "larger than" in run(NATIVE, "email.list", wide)["error"]["message"]


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_nesting_is_refused_without_recursing(depth: int) -> None:
    for raw in ["[" * depth + "]" * depth, "[" * depth, '{"a":' * depth + "1" + "}" * depth]:
        env = run(NATIVE, "email.list", raw)
        assert error_code(env) == "EMAIL_INVALID_ARGUMENT"
        assert "args_json" in env["error"]["message"]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    host = FakeHost()
    env = run(Guest(host), "email.list", {"account_id": 1, "cursor": "[{" * 500})
    assert env["ok"] is True


def test_native_guest_reports_missing_host_after_validation() -> None:
    env = run(NATIVE, "email.list", {"account_id": 1})
    assert error_code(env) == "EMAIL_HOST_CAPABILITY_UNAVAILABLE"
    assert "prx-email" in env["error"]["hint"]
    # Validation errors come first, so argument problems are visible natively too.
    assert error_code(run(NATIVE, "email.list", {"account_id": 0})) == "EMAIL_INVALID_ARGUMENT"


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_every_tool_needs_the_host(tool: str) -> None:
    args = {"email.retry": {"outbox_id": 1}}.get(tool, {})
    env = run(NATIVE, tool, args)
    assert error_code(env) in ("EMAIL_HOST_CAPABILITY_UNAVAILABLE", "EMAIL_INVALID_ARGUMENT")


def test_unexpected_exception_becomes_internal_without_details() -> None:
    host = FakeHost(error=KeyError("secret-token-123"))
    env = run(Guest(host), "email.list", {"account_id": 1})
    assert error_code(env) == "EMAIL_INTERNAL"
    assert "secret" not in json.dumps(env)
    assert "email.list" in env["error"]["message"]


def test_memory_error_becomes_sandbox_memory() -> None:
    env = run(Guest(FakeHost(error=MemoryError())), "email.list", {"account_id": 1})
    assert error_code(env) == "EMAIL_SANDBOX_MEMORY"


def test_recursion_error_becomes_internal() -> None:
    env = run(Guest(FakeHost(error=RecursionError())), "email.accounts", {})
    assert error_code(env) == "EMAIL_INTERNAL"


def test_internal_error_helper_never_echoes_unknown_tool_names() -> None:
    env = check_envelope(internal_error("\ud800" * 10))
    assert error_code(env) == "EMAIL_INTERNAL"


def test_entry_module_never_raises() -> None:
    import prx_email_plugin

    world = prx_email_plugin.WitWorld()
    check_envelope(world.execute("email.list", '{"account_id": 1}'))
    assert json.loads(world.describe())


def test_envelope_code_of_a_case() -> None:
    assert envelope_code("network-disabled") == "EMAIL_NETWORK_DISABLED"
    assert envelope_code("auth-refresh-failed") == "EMAIL_AUTH_REFRESH_FAILED"


def test_ok_envelope_is_compact_and_ordered() -> None:
    out = Guest(FakeHost()).execute("email.accounts", "{}")
    assert out.startswith('{"ok":true,"data":[{"id":1,"name":"Demo"')
