"""describe(): the published JSON Schemas agree with the validator.

A small draft 2020-12 checker (the subset the catalogue uses) runs every schema against sample
arguments: whatever the guest accepts, the schema accepts (the guest may be stricter: address
plausibility, one-line text, ISO dates, since < before, the recipient total are beyond JSON
Schema), and the schema-expressible mistakes are refused by both.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers.guest import FakeHost, run
from hypothesis import given
from hypothesis import strategies as st
from prx_email_guest import DEFAULT_LIMITS, Catalogue, Guest

TOOLS = Catalogue(DEFAULT_LIMITS).tools

CATALOGUE = json.loads(Guest(None).describe())
SCHEMAS = {t["name"]: t["input_schema"] for t in CATALOGUE}

ANNOTATIONS = {"$schema", "description", "default", "format", "contentEncoding"}
ASSERTIONS = {
    "type",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "not",
}


def _type_ok(t: str, v: object) -> bool:
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, float) and v.is_integer()
        )
    if t == "number":
        return isinstance(v, int | float) and not isinstance(v, bool)
    if t == "string":
        return isinstance(v, str)
    if t == "array":
        return isinstance(v, list)
    if t == "object":
        return isinstance(v, dict)
    raise AssertionError(t)


def valid(schema: dict[str, Any], v: object) -> bool:
    unknown = set(schema) - ANNOTATIONS - ASSERTIONS
    assert not unknown, f"checker does not know {unknown}"
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(t, v) for t in types):
            return False
    if "enum" in schema and v not in schema["enum"]:
        return False
    num = isinstance(v, int | float) and not isinstance(v, bool)
    if num and "minimum" in schema and v < schema["minimum"]:  # type: ignore[operator]
        return False
    if num and "maximum" in schema and v > schema["maximum"]:  # type: ignore[operator]
        return False
    if isinstance(v, str) and not (
        schema.get("minLength", 0) <= len(v) <= schema.get("maxLength", len(v))
    ):
        return False
    if isinstance(v, list):
        if len(v) < schema.get("minItems", 0) or len(v) > schema.get("maxItems", len(v)):
            return False
        if "items" in schema and not all(valid(schema["items"], x) for x in v):
            return False
        if schema.get("uniqueItems") and len({json.dumps(x, sort_keys=True) for x in v}) < len(v):
            return False
    if isinstance(v, dict):
        props = schema.get("properties", {})
        if any(k not in v for k in schema.get("required", [])):
            return False
        for k, x in v.items():
            if k in props:
                if not valid(props[k], x):
                    return False
            elif schema.get("additionalProperties", True) is False:
                return False
    if "anyOf" in schema and not any(valid(s, v) for s in schema["anyOf"]):
        return False
    if "oneOf" in schema and sum(valid(s, v) for s in schema["oneOf"]) != 1:
        return False
    return not ("not" in schema and valid(schema["not"], v))


def guest_accepts(tool: str, args: object) -> bool:
    env = run(Guest(FakeHost()), tool, json.dumps(args))
    if not env["ok"]:
        assert env["error"]["code"] == "EMAIL_INVALID_ARGUMENT", env
    return bool(env["ok"])


def test_catalogue_shape() -> None:
    assert [t["name"] for t in CATALOGUE] == list(TOOLS)
    for entry in CATALOGUE:
        assert list(entry) == ["name", "description", "input_schema", "effects", "annotations"]
        assert set(entry["effects"]) == {"network", "mutates"}
        assert list(entry["annotations"]) == ["read_only", "destructive", "idempotent", "network"]
        assert entry["annotations"]["read_only"] is not entry["effects"]["mutates"]
        assert entry["annotations"]["network"] is entry["effects"]["network"]
        schema = entry["input_schema"]
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        spec = TOOLS[entry["name"]]
        assert list(schema["properties"]) == [f.name for f in spec.fields]
        assert schema["required"] == [f.name for f in spec.fields if f.required]
        for name, prop in schema["properties"].items():
            assert prop["description"], name


def test_effects() -> None:
    effects = {t["name"]: (t["effects"]["network"], t["effects"]["mutates"]) for t in CATALOGUE}
    assert effects == {
        "email.accounts": (False, False),
        "email.health": (True, False),
        "email.sync": (True, True),
        "email.list": (False, False),
        "email.get": (False, False),
        "email.search": (True, False),
        "email.send": (True, True),
        "email.reply": (True, True),
        "email.retry": (True, True),
        "email.outbox": (False, False),
        "email.draft_create": (True, True),
        "email.draft_status": (True, False),
        "email.draft_update": (True, True),
        "email.draft_delete": (True, True),
        "email.draft_send": (True, True),
        "email.cancel": (False, True),
        "email.folders": (True, False),
        "email.folder_create": (True, True),
        "email.folder_rename": (True, True),
        "email.folder_delete": (True, True),
        "email.mark": (True, True),
        "email.move": (True, True),
        "email.archive": (True, True),
        "email.delete": (True, True),
        "email.label": (True, True),
        "email.thread": (False, False),
        "email.get_many": (False, False),
        "email.attachment": (True, False),
        "email.forward": (True, True),
        "email.events": (False, False),
    }


def test_annotations() -> None:
    """read_only / destructive / idempotent / network for every tool, from one place."""
    got = {
        t["name"]: tuple(
            n for n in ("read_only", "destructive", "idempotent", "network") if t["annotations"][n]
        )
        for t in CATALOGUE
    }
    ro, net = ("read_only", "idempotent"), ("idempotent", "network")
    assert got == {
        "email.accounts": ro,
        "email.health": (*ro, "network"),
        "email.sync": ("network",),
        "email.list": ro,
        "email.get": ro,
        "email.search": (*ro, "network"),
        "email.send": ("network",),
        "email.reply": ("network",),
        "email.retry": ("network",),
        "email.outbox": ro,
        "email.events": ro,
        "email.folders": (*ro, "network"),
        "email.folder_create": net,
        "email.folder_rename": net,
        "email.folder_delete": ("destructive", *net),
        "email.mark": net,
        "email.move": net,
        "email.archive": net,
        "email.delete": ("destructive", *net),
        "email.label": net,
        "email.thread": ro,
        "email.get_many": ro,
        "email.attachment": (*ro, "network"),
        "email.draft_create": ("network",),
        "email.draft_status": (*ro, "network"),
        "email.draft_update": net,
        "email.draft_delete": ("destructive", *net),
        "email.draft_send": net,
        "email.cancel": ("idempotent",),
        "email.forward": ("network",),
    }
    delete = next(t for t in CATALOGUE if t["name"] == "email.delete")
    assert "Destructive with permanent=true" in delete["description"]


def test_describe_is_deterministic() -> None:
    assert Guest(None).describe() == Guest(FakeHost()).describe()


VALID: list[tuple[str, dict[str, Any]]] = [
    ("email.accounts", {}),
    ("email.sync", {"account_id": 1}),
    ("email.sync", {"account_id": 1, "folder": "INBOX", "max_messages": 100}),
    ("email.list", {"account_id": 1, "folder": None, "unseen_only": True, "limit": 1}),
    ("email.get", {"account_id": 2, "id": 9}),
    ("email.search", {"account_id": 1, "query": "x", "since": "2026-01-01", "before": 2e9}),
    ("email.search", {"account_id": 1, "since": 0, "unseen": None, "remote": True}),
    ("email.send", {"account_id": 1, "to": "a@b.example", "subject": "s", "body_text": "b"}),
    (
        "email.send",
        {
            "account_id": 1,
            "to": ["a@b.example"],
            "cc": None,
            "subject": "s",
            "body_text": None,
            "body_html": "<p/>",
            "attachments": [{"path": "x"}, {"content_base64": "aGk=", "filename": "f"}],
        },
    ),
    ("email.reply", {"account_id": 1, "message_id": 3, "body_html": "x", "reply_all": True}),
    ("email.retry", {"outbox_id": 5}),
    ("email.outbox", {}),
    ("email.outbox", {"account_id": 1, "status": "dead", "limit": 500, "cursor": "c"}),
    ("email.folders", {"account_id": 1}),
    ("email.folder_create", {"account_id": 1, "folder": "Projects/2026"}),
    ("email.folder_rename", {"account_id": 1, "folder": "A", "new_name": "B"}),
    ("email.folder_delete", {"account_id": 1, "folder": "A", "force": True}),
    ("email.mark", {"account_id": 1, "ids": 3, "add": "seen"}),
    ("email.mark", {"account_id": 1, "ids": list(range(1, 101)), "remove": ["seen", "$X"]}),
    ("email.move", {"account_id": 1, "ids": [1], "role": "archive"}),
    ("email.move", {"account_id": 1, "ids": [1], "folder": "Done", "role": None}),
    ("email.archive", {"account_id": 1, "ids": [2**64 - 1]}),
    ("email.delete", {"account_id": 1, "ids": [1, 2], "permanent": True}),
    ("email.label", {"account_id": 1, "ids": 1, "add": ["Receipts"], "remove": "Old"}),
    ("email.thread", {"account_id": 1, "id": 4}),
    ("email.get_many", {"account_id": 1, "ids": list(range(1, 21))}),
    ("email.attachment", {"account_id": 1, "message_id": 4, "index": 0, "inline": True}),
]

INVALID: list[tuple[str, dict[str, Any]]] = [
    ("email.accounts", {"x": 1}),
    ("email.sync", {}),
    ("email.sync", {"account_id": 0}),
    ("email.sync", {"account_id": 1, "max_messages": 0}),
    ("email.list", {"account_id": "1"}),
    ("email.list", {"account_id": True}),
    ("email.list", {"account_id": 1, "limit": 501}),
    ("email.list", {"account_id": 1, "unseen_only": 1}),
    ("email.list", {"account_id": 1, "folder": ""}),
    ("email.get", {"account_id": 1}),
    ("email.get", {"account_id": 1, "id": 2**64}),
    ("email.search", {"account_id": 1, "since": 1.5}),
    ("email.search", {"account_id": 1, "query": "x" * 1001}),
    ("email.search", {"account_id": 1, "remote": "yes"}),
    ("email.send", {"account_id": 1, "to": [], "subject": "s", "body_text": "b"}),
    ("email.send", {"account_id": 1, "to": "a@b.example", "body_text": "b"}),
    ("email.send", {"account_id": 1, "to": "a@b.example", "subject": "s"}),
    ("email.send", {"account_id": 1, "to": "a@b.example", "subject": "s", "body_text": None}),
    ("email.send", {"account_id": 1, "to": "a@b.example", "subject": "x" * 999, "body_text": ""}),
    (
        "email.send",
        {
            "account_id": 1,
            "to": "a@b.example",
            "subject": "s",
            "body_text": "b",
            "attachments": [{}],
        },
    ),
    (
        "email.send",
        {
            "account_id": 1,
            "to": "a@b.example",
            "subject": "s",
            "body_text": "b",
            "attachments": [{"path": "p", "content_base64": "aGk="}],
        },
    ),
    ("email.reply", {"account_id": 1, "message_id": 3}),
    ("email.reply", {"account_id": 1, "message_id": "3", "body_text": "x"}),
    ("email.retry", {}),
    ("email.retry", {"outbox_id": -1}),
    ("email.outbox", {"status": "queued"}),
    ("email.outbox", {"account_id": None, "bogus": 1}),
    ("email.folders", {}),
    ("email.folder_create", {"account_id": 1, "folder": ""}),
    ("email.folder_rename", {"account_id": 1, "folder": "A"}),
    ("email.folder_delete", {"account_id": 1, "folder": "A", "force": "yes"}),
    ("email.mark", {"account_id": 1, "ids": [], "add": "seen"}),
    ("email.mark", {"account_id": 1, "ids": [0], "add": "seen"}),
    ("email.mark", {"account_id": 1, "ids": list(range(1, 102)), "add": "seen"}),
    ("email.mark", {"account_id": 1, "ids": [1], "add": [""]}),
    ("email.move", {"account_id": 1, "ids": [1], "role": "spam"}),
    ("email.delete", {"account_id": 1, "ids": [1], "permanent": 1}),
    ("email.get_many", {"account_id": 1, "ids": list(range(1, 22))}),
    ("email.attachment", {"account_id": 1, "message_id": 4, "index": -1}),
    ("email.attachment", {"account_id": 1, "message_id": 4}),
]


@pytest.mark.parametrize(("tool", "args"), VALID)
def test_valid_samples_pass_both(tool: str, args: dict[str, Any]) -> None:
    assert valid(SCHEMAS[tool], args)
    # 2e9 is a JSON number with a fraction part of zero: the schema's "integer" accepts it,
    # the guest wants an integer literal, so the sample is adjusted for the guest.
    fixed = {k: (int(v) if isinstance(v, float) else v) for k, v in args.items()}
    assert guest_accepts(tool, fixed)


@pytest.mark.parametrize(("tool", "args"), INVALID)
def test_invalid_samples_fail_both(tool: str, args: dict[str, Any]) -> None:
    assert not valid(SCHEMAS[tool], args)
    assert not guest_accepts(tool, args)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=600),
    st.sampled_from([2**32, 2**64, 1.0, 2.5]),
    st.sampled_from(["", "x", "INBOX", "a@b.example", "2026-01-01", "pending", "aGk="]),
    st.lists(st.sampled_from(["a@b.example", "x", 3]), max_size=3),
    st.lists(
        st.dictionaries(
            st.sampled_from(["path", "content_base64", "filename", "content_type", "x"]),
            st.sampled_from(["a", "aGk=", "text/plain", 1]),
            max_size=3,
        ),
        max_size=2,
    ),
)


@st.composite
def tool_args(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(list(TOOLS)))
    names = [*SCHEMAS[tool]["properties"], "bogus"]
    args = draw(st.dictionaries(st.sampled_from(names), values, max_size=len(names)))
    return tool, args


@given(tool_args())
def test_guest_is_at_least_as_strict_as_the_schema(case: tuple[str, dict[str, Any]]) -> None:
    tool, args = case
    if guest_accepts(tool, args):
        assert valid(SCHEMAS[tool], args), (tool, args)
