"""The planned lowering (``bridge/_lowering.py``) writes exactly what wasmtime-py's generic
lowering writes, for every result type of the real ``host`` interface.

Each value is lowered both ways into a C ``val_t`` and lifted back with wasmtime-py's own
``convert_from_c`` (which also frees it); the two lifted values must be equal. Values are
generated from the types themselves (seeded), including empty and non-ASCII text, absent
options, empty lists, both sides of every result and every variant case.
"""

from __future__ import annotations

import ctypes
import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prx_email.bridge import _lowering, convert
from prx_email.errors import InvalidArgument
from prx_email.runtime import load_component, shared_engine
from prx_email.types import (
    FolderReport,
    MessagePage,
    MessageSummary,
    OutboxBounce,
    OutboxEntry,
    OutboxPage,
    OutboxStatus,
    SyncReport,
)
from wasmtime import _ffi as ffi
from wasmtime.component import Record, Variant, _types

pytestmark = [pytest.mark.component]

TEXTS = ("", "a", "Grüße, 世界", "x" * 300, "line\nbreak", "\u0000nul")


@pytest.fixture(scope="module")
def host_types(plugin_wasm: Path) -> dict[str, Any]:
    convert.patch_result_lowering()
    engine = shared_engine()
    component = load_component(engine, plugin_wasm).component
    host = component.type.imports(engine)["prx:email/host@0.1.0"].ty
    return {
        name: item.ty.result
        for name, item in host.exports(engine).items()
        if isinstance(item.ty, _types.FuncType) and item.ty.result is not None
    }


def sample(ty: Any, rng: random.Random, depth: int = 0) -> Any:
    """A valid value of WIT type ``ty``, as the host functions return them."""
    if isinstance(ty, _types.String):
        return rng.choice(TEXTS)
    if isinstance(ty, _types.Bool):
        return rng.random() < 0.5
    if isinstance(ty, _types.U8 | _types.U16 | _types.U32 | _types.U64):
        return rng.choice([0, 1, 255])
    if isinstance(ty, _types.S32 | _types.S64):
        return rng.choice([0, -1, 2**31 - 1])
    if isinstance(ty, _types.ListType):
        return [
            sample(ty.element, rng, depth + 1) for _ in range(rng.randint(0, 3 if depth < 3 else 0))
        ]
    if isinstance(ty, _types.RecordType):
        rec = Record()
        for name, field in ty.fields:
            setattr(rec, name, sample(field, rng, depth + 1))
        return rec
    if isinstance(ty, _types.EnumType):
        return rng.choice(ty.names)
    if isinstance(ty, _types.OptionType):
        return None if rng.random() < 0.4 else sample(ty.payload, rng, depth + 1)
    if isinstance(ty, _types.ResultType):
        if ty.err is not None and rng.random() < 0.4:
            err = sample(ty.err, rng, depth + 1)
            return convert.ResultErr(err) if rng.random() < 0.5 else err
        return None if ty.ok is None else sample(ty.ok, rng, depth + 1)
    if isinstance(ty, _types.VariantType):
        name, payload = rng.choice(ty.cases)
        value = None if payload is None else sample(payload, rng, depth + 1)
        return Variant(name, value) if ty._tagged() else value
    raise AssertionError(f"no sample for {ty!r}")


def _lifted(ty: Any, lower: Any) -> Any:
    raw = ffi.wasmtime_component_val_t()
    lower(ctypes.pointer(raw))
    return ty.convert_from_c(raw)


def _cases(host_types: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    for name, ty in sorted(host_types.items()):
        rng = random.Random(name)
        for _ in range(40):
            yield name, ty, sample(ty, rng)


def test_planned_and_generic_lowering_agree(host_types: dict[str, Any]) -> None:
    assert {"list-messages", "get-many", "search", "accounts"} <= set(host_types)
    page_plan = _lowering.plan_for(host_types["list-messages"], convert.ResultErr, id)
    assert page_plan.__name__ == "low_result"  # planned, not the generic fallback
    seen = 0
    plans = {
        name: _lowering.plan_for(ty, convert.ResultErr, lambda v: v.error)
        for name, ty in host_types.items()
    }  # one per function, as the host builds them: each plan lowers many values
    for name, ty, value in _cases(host_types):
        if isinstance(value, convert.ResultErr) and not isinstance(ty, _types.ResultType):
            continue
        plan = plans[name]
        try:
            generic = _lifted(ty, lambda ptr, t=ty, v=value: t.convert_to_c(None, v, ptr))
        except (TypeError, ValueError) as exc:  # a value the generic path refuses
            with pytest.raises(type(exc)):
                _lifted(ty, lambda ptr, p=plan, v=value: _lowering.lower_into(p, v, ptr, None))
            continue
        planned = _lifted(ty, lambda ptr, p=plan, v=value: _lowering.lower_into(p, v, ptr, None))
        assert planned == generic, (name, value)
        seen += 1
    assert seen > 500


def test_a_bad_value_raises_and_leaves_a_valid_slot(host_types: dict[str, Any]) -> None:
    """A wrong field half-way through a page: an exception (the call traps), never a crash."""
    ty = host_types["list-messages"]
    rng = random.Random(1)
    page = sample(ty.ok, rng)
    page.messages = [sample(dict(ty.ok.fields)["messages"].element, rng) for _ in range(3)]
    page.messages[1].subject = 42  # not a string
    plan = _lowering.plan_for(ty, convert.ResultErr, lambda v: v.error)
    raw = ffi.wasmtime_component_val_t()
    with pytest.raises(TypeError):
        _lowering.lower_into(plan, page, ctypes.pointer(raw), None)
    assert raw.kind == ffi.WASMTIME_COMPONENT_BOOL.value  # zeroed: nothing left to free
    with pytest.raises(ValueError):  # neither a record (ok) nor an email-error (err)
        _lowering.lower_into(plan, "not a page", ctypes.pointer(raw), None)
    assert raw.kind == ffi.WASMTIME_COMPONENT_BOOL.value


def _summary(i: int) -> MessageSummary:
    return MessageSummary(
        id=i,
        account_id=1,
        folder="INBOX" if i % 2 else "Archive/Grüße",
        uid=None if i % 3 == 0 else 40 + i,
        message_id=None if i == 4 else f"<m{i}@example.org>",
        subject=TEXTS[i % len(TEXTS)],
        from_="Ann <ann@example.org>",
        to=tuple(f"to{j}@example.org" for j in range(i % 3)),
        cc=(),
        date=None if i == 2 else 1_700_000_000 + i,
        flags=("\\Seen", "$label") if i % 2 else (),
        snippet="…",
        has_attachments=bool(i % 2),
        size=2**40 + i,
        thread_id=f"<root{i % 2}@example.org>",
    )


def _entry(status: OutboxStatus) -> OutboxEntry:
    bounce = OutboxBounce("a@b", None, "failed", "permanent", "gone", 9)
    return OutboxEntry(3, 1, status, "<m@x>", "s", ("a@b",), 6, 1, 2, bounces=(bounce,))


def test_domain_values_lower_as_their_to_wit_copies(host_types: dict[str, Any]) -> None:
    """The plans read domain values (``convert.page``'s pages) with ``to_wit``'s rules:
    snake_case attributes, tuples, enums as case names, nested dataclasses."""
    values = {
        "list-messages": [MessagePage(tuple(_summary(i) for i in range(7)), "c2")],
        "search": [MessagePage((), None)],
        "list-outbox": [OutboxPage((_entry(OutboxStatus.DEAD), _entry(OutboxStatus.HELD)), None)],
        "sync": [SyncReport(1, (FolderReport("INBOX", fetched=2, more_pending=True),))],
    }
    for name, samples in values.items():
        ty = host_types[name]
        plan = _lowering.plan_for(ty, convert.ResultErr, lambda v: v.error)
        for value in samples:
            wit = convert.to_wit(value)
            expected = _lifted(ty, lambda ptr, t=ty, v=wit: t.convert_to_c(None, v, ptr))
            planned = _lifted(
                ty, lambda ptr, p=plan, v=value: _lowering.lower_into(p, v, ptr, None)
            )
            assert planned == expected, (name, value)
    err = convert.err(InvalidArgument("bad"))  # the err side still wins over a domain ok
    ty = host_types["list-messages"]
    plan = _lowering.plan_for(ty, convert.ResultErr, lambda v: v.error)
    lifted = _lifted(ty, lambda ptr: _lowering.lower_into(plan, err, ptr, None))
    assert lifted == _lifted(ty, lambda ptr: ty.convert_to_c(None, err, ptr))


def test_pages_cross_unconverted_only_under_planned_lowering(host_types: dict[str, Any]) -> None:
    page = MessagePage((_summary(1),), None)
    assert convert._DOMAIN_LOWERING is _lowering.check_layout()
    assert (convert.page(page) is page) is convert._DOMAIN_LOWERING


def test_an_unencodable_address_raises_before_its_list_is_built(
    host_types: dict[str, Any],
) -> None:
    """``list<string>`` is allocated uninitialised: a lone surrogate must fail before that."""
    bad = dataclasses.replace(_summary(1), to=("ok@example.org", "\ud800@example.org"))
    page = MessagePage((_summary(0), bad), None)
    plan = _lowering.plan_for(host_types["list-messages"], convert.ResultErr, lambda v: v.error)
    raw = ffi.wasmtime_component_val_t()
    with pytest.raises(UnicodeEncodeError):
        _lowering.lower_into(plan, page, ctypes.pointer(raw), None)
    assert raw.kind == ffi.WASMTIME_COMPONENT_BOOL.value  # zeroed: nothing left to free


def test_a_result_larger_than_the_arena_grows_it(host_types: dict[str, Any]) -> None:
    """Past the first arena (64 KiB) the tree is built again in a larger one, and an arena
    grown past the size kept for reuse is dropped afterwards."""
    ty = host_types["list-messages"]
    plan = _lowering.plan_for(ty, convert.ResultErr, lambda v: v.error)
    big = [dataclasses.replace(_summary(i), snippet="é" * 1000 + str(i)) for i in range(900)]
    page = MessagePage(tuple(big), "next")
    expected = _lifted(ty, lambda ptr: ty.convert_to_c(None, convert.to_wit(page), ptr))
    assert _lifted(ty, lambda ptr: _lowering.lower_into(plan, page, ptr, None)) == expected
    assert getattr(_lowering._local, "arena", None) is None  # ~2 MB: not kept
    small = MessagePage((_summary(1),), None)
    lifted = _lifted(ty, lambda ptr: _lowering.lower_into(plan, small, ptr, None))
    assert lifted == _lifted(ty, lambda ptr: ty.convert_to_c(None, convert.to_wit(small), ptr))
    assert _lowering._local.arena.cap == 1 << 16


def test_threads_lower_at_once_each_in_its_own_arena(host_types: dict[str, Any]) -> None:
    """Host functions run on the calling thread, several at once (the instance pool)."""
    import threading

    ty = host_types["list-messages"]
    plan = _lowering.plan_for(ty, convert.ResultErr, lambda v: v.error)
    pages = [MessagePage(tuple(_summary(i + k) for i in range(30)), str(k)) for k in range(4)]
    expected = [
        _lifted(ty, lambda ptr, p=p: ty.convert_to_c(None, convert.to_wit(p), ptr)) for p in pages
    ]
    failures: list[str] = []

    def work(k: int) -> None:
        for _ in range(200):
            got = _lifted(ty, lambda ptr: _lowering.lower_into(plan, pages[k], ptr, None))
            if got != expected[k]:
                failures.append(f"thread {k}")
                return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
