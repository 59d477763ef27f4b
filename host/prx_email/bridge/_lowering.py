"""Host-function results lowered by a plan per function, written straight into C memory.

wasmtime-py's generic lowering (``ValType.convert_to_c``) walks the component type for every
value: per record field it re-reads the type through the C API, allocates a ctypes pointer
object, copies the field name through an intermediate ``bytes``, and sets union members
through ctypes attribute chains. A page of 20 message summaries is ~450 such fields: about
half of an ``email.list`` call's CPU, more than the guest's own work.

Here each host function's result type is compiled once (on its first call) into nested
closures that know their field names (pre-encoded) and their children, and write each
``wasmtime_component_val_t`` through a ``memoryview`` over the C array wasmtime allocated:
one C call per string (each must be its own allocation: wasmtime frees them one by one),
one per record (its entries, field names included, copied in C from a template built once)
and plain buffer writes for everything else. What is lowered is exactly what the
generic path lowers (same case selection for untagged options/results/variants, the same
``ResultErr`` rule as ``_wasmtime_patches``); types without a plan here (flags, tuples,
floats, chars, resources) use the generic ``convert_to_c`` at their place in the tree.

Domain values are read as they are, with ``convert.to_wit``'s rules: a dataclass where a
record goes (its snake_case attributes, ``convert.wit_fields``), a tuple where a list goes,
and anything else that is not a WIT value yet (an enum) through ``to_wit`` where it is met.
So a host function may hand back a domain page (``convert.page``) without building a
``Record`` copy first. Strings and integers in an option are boxed without a view, and a
``list<string>`` is written without element plans (the summaries' addresses and flags).

Memory: every array is zeroed before it is filled (a zeroed value is ``bool false``, which
wasmtime frees as nothing), so a lowering that fails half-way frees what it built and
leaves its slot as a valid ``bool``; the exception then traps the call as before.

The layout constants are wasmtime-py 50's (``_wasmtime_patches.SUPPORTED`` guards them, and
``check_layout`` compares them with ctypes' view of the structs before anything is
installed).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import Record, Variant, _types

from . import convert

#: ``plan(value, view, base, offset, store)``: lower ``value`` into the ``val_t`` at
#: ``base + offset`` (``view`` covers that memory).
Plan = Callable[[Any, memoryview, int, int, Any], None]

VAL = 32  # sizeof(wasmtime_component_val_t): kind (u8) at 0, the union at 8
OF = 8
ENTRY = 48  # sizeof(wasmtime_component_valrecord_entry_t): name (byte vec) at 0, val at 16
ENTRY_VAL = 16

_K = {
    name: getattr(ffi, f"WASMTIME_COMPONENT_{name}").value
    for name in (
        "BOOL",
        "S8",
        "U8",
        "S16",
        "U16",
        "S32",
        "U32",
        "S64",
        "U64",
        "STRING",
        "LIST",
        "RECORD",
        "VARIANT",
        "ENUM",
        "OPTION",
        "RESULT",
    )
}
_INTS: dict[type, tuple[str, str]] = {
    _types.S8: ("S8", "<b"),
    _types.U8: ("U8", "<B"),
    _types.S16: ("S16", "<h"),
    _types.U16: ("U16", "<H"),
    _types.S32: ("S32", "<i"),
    _types.U32: ("U32", "<I"),
    _types.S64: ("S64", "<q"),
    _types.U64: ("U64", "<Q"),
}


def _handle(name: str, args: list[Any], res: Any = None) -> Any:
    """A private ctypes handle on a C function taking raw addresses (``c_void_p``)."""
    fn = ffi.dll[name]
    fn.argtypes = args
    fn.restype = res
    return fn


_vp, _sz = ctypes.c_void_p, ctypes.c_size_t
_byte_vec_new = _handle("wasm_byte_vec_new", [_vp, _sz, ctypes.c_char_p])
_list_new = _handle("wasmtime_component_vallist_new_uninit", [_vp, _sz])
_list_delete = _handle("wasmtime_component_vallist_delete", [_vp])
_record_new = _handle("wasmtime_component_valrecord_new_uninit", [_vp, _sz])
_record_delete = _handle("wasmtime_component_valrecord_delete", [_vp])
_record_copy = _handle("wasmtime_component_valrecord_copy", [_vp, _vp])
_val_new = _handle("wasmtime_component_val_new", [_vp], _vp)  # moves *src onto the heap
_val_new_from = _handle("wasmtime_component_val_new", [ctypes.c_char_p], _vp)  # from bytes
_val_free = _handle("wasmtime_component_val_free", [_vp])  # drops and frees a val_new box
_templates: list[Any] = []  # record templates (field names), never freed
_ZERO = ctypes.create_string_buffer(VAL)  # a bool false: what a new heap value starts as
_ZERO_ADDR = ctypes.addressof(_ZERO)
_P = struct.Struct("<Q")


def check_layout() -> bool:
    """Whether ctypes' view of the C structs matches the offsets used here."""
    val: Any = ffi.wasmtime_component_val_t
    entry: Any = ffi.wasmtime_component_valrecord_entry
    result: Any = ffi.wasmtime_component_valresult_t
    variant: Any = ffi.wasmtime_component_valvariant_t
    return (
        ctypes.sizeof(val) == VAL
        and val.of.offset == OF
        and ctypes.sizeof(entry) == ENTRY
        and entry.val.offset == ENTRY_VAL
        and result.val.offset == 8
        and variant.val.offset == 16
        and ctypes.sizeof(ctypes.c_void_p) == 8
    )


def _view(addr: int, size: int) -> memoryview:
    return memoryview((ctypes.c_ubyte * size).from_address(addr)).cast("B")


def _zeroed(addr: int, size: int) -> memoryview:
    ctypes.memset(addr, 0, size)
    return _view(addr, size)


def _heap(plan: Plan, val: Any, store: Any) -> int:
    """A new heap ``val_t`` holding ``val`` (for option, result and variant payloads)."""
    addr: int = _val_new(_ZERO_ADDR)
    try:
        plan(val, _view(addr, VAL), addr, 0, store)
    except BaseException:
        _val_free(addr)
        raise
    return addr


#: Plan → a function putting a value of that plan in a new heap ``val_t`` more cheaply
#: than ``_heap`` (strings and integers, the usual option payloads).
_BOXES: dict[Plan, Callable[[Any, Any], int]] = {}


def _boxer(plan: Plan) -> Callable[[Any, Any], int]:
    box = _BOXES.get(plan)
    if box is not None:
        return box

    def box_any(val: Any, store: Any) -> int:
        return _heap(plan, val, store)

    return box_any


def _as_wit(val: Any) -> Any:
    """A domain value as ``convert.to_wit`` makes it; anything else unchanged (it is then
    refused, or read, exactly as before)."""
    try:
        return convert.to_wit(val)
    except TypeError:
        return val


def _classes(ty: Any) -> tuple[type, ...]:
    found: set[type] = set()
    ty.add_classes(found)
    return tuple(found)


def _fits(ty: Any) -> Callable[[Any], bool]:
    """Whether a value is of WIT type ``ty``'s Python classes (how untagged cases are told
    apart); a domain dataclass fits where a record does."""
    classes = _classes(ty)
    if Record not in classes:
        return lambda val: isinstance(val, classes)

    def fits(val: Any) -> bool:
        return isinstance(val, classes) or (
            type(val) is not Variant and convert.wit_fields(type(val)) is not None
        )

    return fits


def plan_for(ty: Any, result_err: type, error_of: Callable[[Any], Any]) -> Plan:
    """The lowering plan of WIT type ``ty`` (a ``wasmtime.component`` ``ValType``)."""

    def sub(t: Any) -> Plan:
        return plan_for(t, result_err, error_of)

    if isinstance(ty, _types.String):
        return _text_plan(_K["STRING"], "expected string type")
    if isinstance(ty, _types.Bool):
        k_bool = _K["BOOL"]

        def low_bool(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
            if not isinstance(val, bool):
                raise TypeError("expected bool for Bool type")
            mv[off] = k_bool
            mv[off + OF] = 1 if val else 0

        return low_bool
    if type(ty) in _INTS:
        kind_name, fmt = _INTS[type(ty)]
        kind, packer = _K[kind_name], struct.Struct(fmt)

        def low_int(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
            if not isinstance(val, int):
                val = _as_wit(val)
                if not isinstance(val, int):
                    raise TypeError(f"expected int for {kind_name} type")
            packer.pack_into(mv, off + OF, val)  # struct.error when out of range
            mv[off] = kind

        boxed = struct.Struct("<B7x" + fmt[1:])
        pad = bytes(VAL - boxed.size)

        def box_int(val: Any, store: Any) -> int:
            if not isinstance(val, int):
                return _heap(low_int, val, store)
            addr: int = _val_new_from(boxed.pack(kind, val) + pad)  # one copy, no view
            return addr

        _BOXES[low_int] = box_int
        return low_int
    if isinstance(ty, _types.ListType) and isinstance(ty.element, _types.String):
        return _texts_plan(_list_plan(sub(ty.element)))
    if isinstance(ty, _types.ListType) and not ty._is_bytes():
        return _list_plan(sub(ty.element))
    if isinstance(ty, _types.RecordType):
        return _record_plan([(name, sub(t)) for name, t in ty.fields])
    if isinstance(ty, _types.EnumType):  # a case name: a byte vec, like a string
        return _text_plan(_K["ENUM"], "expected str type")
    if isinstance(ty, _types.OptionType) and not ty._tagged():
        return _option_plan(sub(ty.payload), _fits(ty.payload))
    if isinstance(ty, _types.ResultType) and not ty._tagged():
        return _result_plan(ty, sub, result_err, error_of)
    if isinstance(ty, _types.VariantType):
        return _variant_plan(ty, sub)
    return _generic_plan(ty)


def _text_plan(kind: int, refusal: str) -> Plan:
    def low_text(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
        if not isinstance(val, str):
            val = _as_wit(val)  # an enum of a domain value
            if not isinstance(val, str):
                raise TypeError(refusal)
        data = val.encode("utf-8")
        mv[off] = kind
        _byte_vec_new(base + off + OF, len(data), data)

    def box_text(val: Any, store: Any) -> int:
        if not isinstance(val, str):
            return _heap(low_text, val, store)
        data = val.encode("utf-8")
        addr: int = _val_new(_ZERO_ADDR)
        _byte_vec_new(addr + OF, len(data), data)
        ctypes.memset(addr, kind, 1)  # no view for one byte
        return addr

    _BOXES[low_text] = box_text
    return low_text


def _generic_plan(ty: Any) -> Plan:
    pointer = ctypes.POINTER(ffi.wasmtime_component_val_t)

    def low_generic(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
        ty.convert_to_c(store, val, ctypes.cast(base + off, pointer))

    return low_generic


def _list_plan(element: Plan) -> Plan:
    k_list = _K["LIST"]

    def low_list(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
        if not isinstance(val, list | tuple):  # a domain value's tuple: its items as they are
            val = _as_wit(val)
            if not isinstance(val, list):
                raise TypeError("expected list value")
        n = len(val)
        slot = base + off + OF
        _list_new(slot, n)  # writes {size, data} into the slot's union
        if n:
            data = _P.unpack_from(mv, off + OF + 8)[0]
            view = _zeroed(data, n * VAL)
            try:
                for i, item in enumerate(val):
                    element(item, view, data, i * VAL, store)
            except BaseException:
                _list_delete(slot)
                mv[off : off + VAL] = bytes(VAL)
                raise
        mv[off] = k_list

    return low_list


def _texts_plan(general: Plan) -> Plan:
    """``list<string>`` (addresses, flags: one or two items, 60 such lists a page): each
    item's kind set with one ``memset``, no element plan, no view; anything but a list or
    tuple of ``str`` goes to the general plan."""
    k_list, k_string = _K["LIST"], _K["STRING"]

    def low_texts(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
        if not isinstance(val, list | tuple) or not all(isinstance(v, str) for v in val):
            general(val, mv, base, off, store)
            return
        # Encoded before anything is allocated (a lone surrogate raises here); after that
        # nothing can fail, so the uninitialised slots never meet an error path.
        encoded = [item.encode("utf-8") for item in val]
        slot = base + off + OF
        _list_new(slot, len(encoded))
        if encoded:
            at = _P.unpack_from(mv, off + OF + 8)[0]
            for data in encoded:
                _byte_vec_new(at + OF, len(data), data)
                ctypes.memset(at, k_string, 1)  # the rest of the slot is not read
                at += VAL
        mv[off] = k_list

    return low_texts


def _record_plan(fields: list[tuple[str, Plan]]) -> Plan:
    """A record: its entries copied from a template holding the field names (one C call
    allocates all of a record's names), then each value written in place."""
    k_record = _K["RECORD"]
    n = len(fields)
    template = ffi.wasmtime_component_valrecord_t()  # kept for the process's lifetime
    template_addr = ctypes.addressof(template)
    _record_new(template_addr, n)
    if n:
        names = ctypes.cast(template.data, ctypes.c_void_p).value or 0
        ctypes.memset(names, 0, n * ENTRY)  # every value bool false
        for i, (name, _) in enumerate(fields):
            encoded = name.encode("utf-8")
            _byte_vec_new(names + i * ENTRY, len(encoded), encoded)
    _templates.append(template)
    named = [(name, i * ENTRY + ENTRY_VAL, plan) for i, (name, plan) in enumerate(fields)]
    # A domain dataclass is read directly, through the attribute ``to_wit`` would copy
    # each WIT field from (per class, on first use).
    by_class: dict[type, list[tuple[str, int, Plan]]] = {Record: named}

    def attributes(cls: type) -> list[tuple[str, int, Plan]] | None:
        found = convert.wit_fields(cls)
        if found is None or any(name not in found for name, _, _ in named):
            return None
        read = by_class[cls] = [(found[name], at, plan) for name, at, plan in named]
        return read

    def low_record(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
        read = by_class.get(type(val)) or attributes(type(val))
        if read is None:
            val, read = _as_wit(val), named
        slot = base + off + OF
        _record_copy(slot, template_addr)  # the slot is zeroed: nothing to drop there
        if n:
            data = _P.unpack_from(mv, off + OF + 8)[0]
            view = _view(data, n * ENTRY)
            try:
                for name, at, plan in read:
                    plan(getattr(val, name), view, data, at, store)
            except BaseException:
                _record_delete(slot)
                mv[off : off + VAL] = bytes(VAL)
                raise
        mv[off] = k_record

    return low_record


def _option_plan(payload: Plan, fits: Callable[[Any], bool]) -> Plan:
    k_option = _K["OPTION"]
    box = _boxer(payload)

    def low_option(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
        # Untagged (the payload's classes do not include None): None is none.
        if val is not None and not fits(val):
            val = _as_wit(val)
            if val is None or not fits(val):
                raise ValueError("value not valid for this variant")
        addr = 0 if val is None else box(val, store)
        _P.pack_into(mv, off + OF, addr)
        mv[off] = k_option

    return low_option


def _result_plan(
    ty: Any, sub: Callable[[Any], Plan], result_err: type, error_of: Callable[[Any], Any]
) -> Plan:
    k_result = _K["RESULT"]
    cases = [
        (is_ok, None if t is None else _boxer(sub(t)), None if t is None else _fits(t))
        for is_ok, t in ((True, ty.ok), (False, ty.err))
    ]
    err_box = cases[1][1]

    def choose(val: Any) -> tuple[bool, Callable[[Any, Any], int] | None] | None:
        for case_ok, box, fits in cases:
            if box is None or fits is None:
                if val is None:
                    return case_ok, None
            elif fits(val):
                return case_ok, box
        return None

    def low_result(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
        if isinstance(val, result_err):  # the err case, whatever the ok type accepts
            if err_box is None:
                raise ValueError("this result has no err payload")
            ok, addr = False, err_box(error_of(val), store)
        else:
            chosen = choose(val)
            if chosen is None:
                val = _as_wit(val)
                chosen = choose(val)
                if chosen is None:
                    raise ValueError("value not valid for this variant")
            ok, box = chosen
            addr = 0 if box is None else box(val, store)
        mv[off + OF] = 1 if ok else 0
        _P.pack_into(mv, off + OF + 8, addr)
        mv[off] = k_result

    return low_result


def _variant_plan(ty: Any, sub: Callable[[Any], Plan]) -> Plan:
    k_variant = _K["VARIANT"]
    tagged = ty._tagged()
    cases = [
        (
            name,
            name.encode("utf-8"),
            None if t is None else sub(t),
            None if t is None else _fits(t),
        )
        for name, t in ty.cases
    ]
    by_tag = {name: (encoded, plan) for name, encoded, plan, _ in cases}

    def choose(val: Any) -> tuple[bytes, Plan | None, Any]:
        if tagged:
            if not isinstance(val, Variant):
                raise TypeError("expected Variant type")
            found = by_tag.get(val.tag)
            if found is None:
                raise ValueError("value not valid for this variant")
            return found[0], found[1], val.payload
        picked = untagged(val)
        if picked is None:
            picked = untagged(_as_wit(val))  # a domain value: as to_wit makes it
            if picked is None:
                raise ValueError("value not valid for this variant")
        return picked

    def untagged(val: Any) -> tuple[bytes, Plan | None, Any] | None:
        for _, encoded, plan, fits in cases:
            if fits is None:
                if val is None:
                    return encoded, None, None
            elif fits(val):
                return encoded, plan, val
        return None

    def low_variant(val: Any, mv: memoryview, base: int, off: int, store: Any) -> None:
        encoded, plan, payload = choose(val)
        addr = 0 if plan is None else _heap(plan, payload, store)
        _byte_vec_new(base + off + OF, len(encoded), encoded)
        _P.pack_into(mv, off + OF + 16, addr)
        mv[off] = k_variant

    return low_variant


def lower_into(plan: Plan, val: Any, ptr: Any, store: Any) -> None:
    """Lower ``val`` into the ``val_t`` behind the ctypes pointer ``ptr`` (wasmtime's slot)."""
    addr = ctypes.cast(ptr, ctypes.c_void_p).value
    if not addr:
        raise ValueError("no result slot")
    ctypes.memset(addr, 0, VAL)  # wasmtime's slot is uninitialised: make it a bool false
    plan(val, _view(addr, VAL), addr, 0, store)
