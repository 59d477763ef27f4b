"""email.events in the guest (natively, fake host): arguments → event-query, the payload's
field names, and the bounds the guest shares with the host."""

from __future__ import annotations

import json

from helpers.guest import EVENT, FakeHost, error_code, run
from prx_email.bridge import convert
from prx_email.store import events as host_events
from prx_email.types import Event, EventPage
from prx_email_guest import Guest
from prx_email_guest import _catalogue as c
from wit_world.imports import types


def test_the_guest_bounds_are_the_hosts() -> None:
    assert c.EVENTS_LIMIT_MAX == host_events.MAX_LIMIT
    assert c.EVENTS_WAIT_MAX_MS == host_events.MAX_WAIT_SECONDS * 1000
    assert c.EVENT_TYPES == host_events.EVENT_TYPES


def test_arguments_become_one_event_query() -> None:
    host = FakeHost()
    env = run(
        Guest(host),
        "email.events",
        {"after": 5, "limit": 10, "types": "new_mail", "account_id": 2, "wait_ms": 2500},
    )
    assert env["ok"], env
    assert host.calls == [("events", (types.EventQuery(5, 10, ["new_mail"], 2, 2500),))]
    host = FakeHost()
    run(Guest(host), "email.events", {"types": ["outbox", "new_mail", "outbox"]})
    assert host.calls == [("events", (types.EventQuery(0, 100, ["outbox", "new_mail"], None, 0),))]


def test_bad_arguments_never_reach_the_host() -> None:
    for bad in (
        {"after": -1},
        {"limit": 0},
        {"limit": 1001},
        {"wait_ms": -1},
        {"wait_ms": 30_001},
        {"types": ["nope"]},
        {"types": 3},
        {"cursor": "x"},
    ):
        host = FakeHost()
        env = run(Guest(host), "email.events", bad)
        assert error_code(env) == "EMAIL_INVALID_ARGUMENT", (bad, env)
        assert host.calls == []


def test_guest_payload_has_the_hosts_field_names() -> None:
    """The same event through convert (host → WIT) and the guest's rendering equals what
    the CLI prints (Event.to_json): one set of names for every consumer."""
    event = Event(
        id=12, type="flags_changed", account_id=1, folder="INBOX", message_id=7, uid=42,
        rfc_message_id="<abc@example.org>", thread_id="<root@example.org>",
        from_="billing@example.org", subject="Invoice 2026-11", snippet="Your invoice",
        ts=1_763_800_000.25, automated=None, detail={"flags": ["\\Seen"], "previous": []},
    )  # fmt: skip
    wit = convert.event_page(EventPage((event,), 12, 12)).events[0]
    assert json.loads(getattr(wit, "detail-json")) == {"flags": ["\\Seen"], "previous": []}
    env = run(Guest(FakeHost()), "email.events", {})
    (shown,) = env["data"]["events"]
    assert env["data"]["next_after"] == EVENT.id == 12
    assert shown == event.to_json()
