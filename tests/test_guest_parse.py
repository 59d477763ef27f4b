"""args_json parsing limits: size, nesting (checked before the parser recurses), floods."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prx_email_guest._codes import GuestError
from prx_email_guest._parse import MAX_DEPTH, _structure_problem, parse_args

tricky_text = st.text(alphabet='[]{}"\\ab,:', max_size=12)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def nested(levels: int, leaf: object) -> object:
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


@settings(max_examples=300, deadline=None)
@given(
    levels=st.integers(min_value=0, max_value=60),
    leaf=st.one_of(tricky_text, st.lists(tricky_text, max_size=3)),
    noise=st.lists(tricky_text, max_size=40),
)
def test_depth_check_is_exact_and_ignores_strings(
    levels: int, leaf: object, noise: list[str]
) -> None:
    value = {"noise": noise, "v": nested(levels, leaf)}
    raw = json.dumps(value)
    problem = _structure_problem(raw)
    if depth(value) > MAX_DEPTH:
        assert problem is not None and problem.code == "EMAIL_INVALID_ARGUMENT"
        assert "deeper" in problem.message
    else:
        assert problem is None
        assert parse_args(raw) == value


def test_brackets_and_escaped_quotes_inside_strings_do_not_count() -> None:
    for s in ['\\"' + "[" * 100, '\\\\"' * 3 + "{" * 100, "]" * 100 + "[" * 100]:
        raw = json.dumps({"a": s, "b": [[1]]})
        assert _structure_problem(raw) is None
        assert parse_args(raw) == {"a": s, "b": [[1]]}


def test_bracket_flood_is_refused() -> None:
    problem = _structure_problem("[" + "[1]," * 5000 + "[1]]")
    assert isinstance(problem, GuestError)
    assert problem.code == "EMAIL_INVALID_ARGUMENT"


def test_string_flood_is_refused() -> None:
    problem = _structure_problem("[" + '"a",' * 50_000 + '"a"]')
    assert isinstance(problem, GuestError)
    assert "strings" in problem.message


@pytest.mark.parametrize("raw", ["]" * 100 + "[" * 100, "[" * 10 + '"' + "[" * 100])
def test_invalid_structures_are_left_to_the_parser_when_harmless(raw: str) -> None:
    # A stray closing bracket or an unterminated string stops the parser before any recursion.
    with pytest.raises(GuestError) as info:
        parse_args(raw)
    assert info.value.code == "EMAIL_INVALID_JSON"


def test_value_flood_is_refused() -> None:
    problem = _structure_problem("[" + "1," * 30_000 + "1]")
    assert isinstance(problem, GuestError)
    assert "values" in problem.message


def test_commas_inside_strings_do_not_count() -> None:
    raw = json.dumps({"body_text": "a, " * 30_000})
    assert _structure_problem(raw) is None
