"""Host-function results lowered by a plan per function, built in one arena, one C call.

wasmtime-py's generic lowering (``ValType.convert_to_c``) walks the component type for every
value: per record field it re-reads the type through the C API, allocates a ctypes pointer
object, copies the field name through an intermediate ``bytes``, and sets union members
through ctypes attribute chains; and every string, list, record and option payload is its
own C allocation (wasmtime frees them one by one). A page of 20 message summaries is ~450
fields and ~330 such C calls: about half of an ``email.list`` call's CPU.

Here each host function's result type is compiled once (on its first call) into nested
closures that know their field names and their children, and the whole result tree —
every ``wasmtime_component_val_t``, record entry, list array and string byte — is written
with ``struct`` into one per-thread arena of our own memory. One call to
``wasmtime_component_val_clone`` then deep-copies the tree into wasmtime's result slot
(Rust allocations, which wasmtime frees as usual); the arena is reused by the next call.
Record entries are copied from a template whose field names live in memory kept for the
process's lifetime (the clone copies them too). What is lowered is exactly what the
generic path lowers (same case selection for untagged options/results/variants, the same
``ResultErr`` rule as ``_wasmtime_patches``); types without a plan here (flags, tuples,
floats, chars, resources) use the generic ``convert_to_c`` into their arena slot, and that
subtree (wasmtime-owned) is dropped after the clone.

Domain values are read as they are, with ``convert.to_wit``'s rules: a dataclass where a
record goes (its snake_case attributes, ``convert.wit_fields``), a tuple where a list goes,
and anything else that is not a WIT value yet (an enum) through ``to_wit`` where it is met.
So a host function may hand back a domain page (``convert.page``) without building a
``Record`` copy first.

Failure: nothing is handed to wasmtime until the tree is complete, so a value that does
not fit its type raises (the call traps, as before) with wasmtime's slot left a zeroed
``bool false`` and nothing to free but the generic subtrees, which are dropped. Text is
encoded (a lone surrogate raises) before any of it is written.

The layout constants are wasmtime-py 50's (``_wasmtime_patches.SUPPORTED`` guards them, and
``check_layout`` compares them with ctypes' view of the structs before anything is
installed).
"""

from __future__ import annotations

import ctypes
import keyword
import struct
import threading
from collections.abc import Callable
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import Record, Variant, _types

from . import convert

VAL = 32  # sizeof(wasmtime_component_val_t): kind (u8) at 0, the union at 8
OF = 8
ENTRY = 48  # sizeof(wasmtime_component_valrecord_entry_t): name (byte vec) at 0, val at 16
ENTRY_VAL = 16
_FIRST_ARENA = 1 << 16
_KEEP_ARENA = 1 << 20  # an arena grown past this (a huge result) is not kept for reuse

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
    _types.S8: ("S8", "b"),
    _types.U8: ("U8", "B"),
    _types.S16: ("S16", "h"),
    _types.U16: ("U16", "H"),
    _types.S32: ("S32", "i"),
    _types.U32: ("U32", "I"),
    _types.S64: ("S64", "q"),
    _types.U64: ("U64", "Q"),
}


class Arena:
    """Bump-allocated scratch memory the result tree is built in (one per thread)."""

    __slots__ = ("base", "buffer", "busy", "cap", "owned", "store", "top", "view")

    def __init__(self, size: int) -> None:
        self.buffer = ctypes.create_string_buffer(size)
        self.view = memoryview(self.buffer).cast("B")
        self.base: int = ctypes.addressof(self.buffer)
        self.cap = size
        self.top = 0
        self.store: Any = None
        self.owned: list[int] = []  # slots holding wasmtime-owned subtrees (generic plans)
        self.busy = False


class _Full(Exception):
    """The arena is too small for this result: grow it and lower again."""


def _alloc(a: Arena, size: int) -> int:
    """``size`` bytes (rounded up to 8) of the arena: their offset."""
    at = a.top
    end = at + ((size + 7) & ~7)
    if end > a.cap:
        raise _Full
    a.top = end
    return at


#: ``plan(value, arena, offset)``: write ``value`` as the ``val_t`` at arena ``offset``.
Plan = Callable[[Any, Arena, int], None]

#: What a record's generated code writes inline instead of calling the field's plan:
#: ``("text", kind)``, ``("int", kind, struct)``, ``("bool", kind, struct)`` or
#: ``("option", payload plan)``; other plans are called.
_SHAPES: dict[Plan, tuple[Any, ...]] = {}


def _handle(name: str, args: list[Any], res: Any = None) -> Any:
    """A private ctypes handle on a C function taking raw addresses (``c_void_p``)."""
    fn = ffi.dll[name]
    fn.argtypes = args
    fn.restype = res
    return fn


_vp = ctypes.c_void_p
_val_clone = _handle("wasmtime_component_val_clone", [_vp, _vp])  # deep: Rust allocations
_val_delete = _handle("wasmtime_component_val_delete", [_vp])  # drops in place
_kept: list[Any] = []  # names of record fields and variant cases, never freed
_VEC = struct.Struct("<B7xQQ")  # kind, then {size, data}: a string, enum, list or record
_PTR = struct.Struct("<B7xQ")  # kind, then a payload pointer: an option
_RESULT = struct.Struct("<B7x?7xQ")  # kind, then {is_ok, payload pointer}
_VARIANT = struct.Struct("<B7xQQQ")  # kind, then {case name {size, data}, payload pointer}


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


def _keep(data: bytes) -> int:
    """The address of a copy of ``data`` kept for the process's lifetime."""
    buffer = ctypes.create_string_buffer(data, max(1, len(data)))
    _kept.append(buffer)
    return ctypes.addressof(buffer)


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
        packer = struct.Struct("<B7x?")

        def low_bool(val: Any, a: Arena, off: int) -> None:
            if not isinstance(val, bool):
                raise TypeError("expected bool for Bool type")
            packer.pack_into(a.view, off, k_bool, val)

        _SHAPES[low_bool] = ("bool", k_bool, packer)
        return low_bool
    if type(ty) in _INTS:
        kind_name, fmt = _INTS[type(ty)]
        kind, packer = _K[kind_name], struct.Struct("<B7x" + fmt)

        def low_int(val: Any, a: Arena, off: int) -> None:
            if not isinstance(val, int):
                val = _as_wit(val)
                if not isinstance(val, int):
                    raise TypeError(f"expected int for {kind_name} type")
            packer.pack_into(a.view, off, kind, val)  # struct.error when out of range

        _SHAPES[low_int] = ("int", kind, packer)
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
    pack = _VEC.pack_into

    def low_text(val: Any, a: Arena, off: int) -> None:
        if not isinstance(val, str):
            val = _as_wit(val)  # an enum of a domain value
            if not isinstance(val, str):
                raise TypeError(refusal)
        data = val.encode("utf-8")
        n = len(data)
        at = a.top
        end = at + ((n + 7) & ~7)
        if end > a.cap:
            raise _Full
        a.top = end
        view = a.view
        view[at : at + n] = data
        pack(view, off, kind, n, a.base + at)

    _SHAPES[low_text] = ("text", kind)
    return low_text


def _generic_plan(ty: Any) -> Plan:
    pointer = ctypes.POINTER(ffi.wasmtime_component_val_t)

    def low_generic(val: Any, a: Arena, off: int) -> None:
        ty.convert_to_c(a.store, val, ctypes.cast(a.base + off, pointer))
        a.owned.append(a.base + off)  # wasmtime's allocations: dropped after the clone

    return low_generic


def _list_plan(element: Plan) -> Plan:
    k_list = _K["LIST"]
    pack = _VEC.pack_into

    def low_list(val: Any, a: Arena, off: int) -> None:
        if not isinstance(val, list | tuple):  # a domain value's tuple: its items as they are
            val = _as_wit(val)
            if not isinstance(val, list):
                raise TypeError("expected list value")
        n = len(val)
        at = _alloc(a, n * VAL)
        pack(a.view, off, k_list, n, a.base + at)
        for item in val:
            element(item, a, at)
            at += VAL

    return low_list


def _texts_plan(general: Plan) -> Plan:
    """``list<string>`` (addresses, flags: one or two items, 60 such lists a page): the
    items written without element plans; anything but a list or tuple of ``str`` goes to
    the general plan."""
    k_list, k_string = _K["LIST"], _K["STRING"]
    pack = _VEC.pack_into

    def low_texts(val: Any, a: Arena, off: int) -> None:
        if not isinstance(val, list | tuple) or not all(isinstance(v, str) for v in val):
            general(val, a, off)
            return
        n = len(val)
        at = _alloc(a, n * VAL)
        view, base = a.view, a.base
        pack(view, off, k_list, n, base + at)
        for item in val:
            data = item.encode("utf-8")
            size = len(data)
            where = _alloc(a, size)
            view[where : where + size] = data
            pack(view, at, k_string, size, base + where)
            at += VAL

    _SHAPES[low_texts] = ("texts", k_list, k_string)
    return low_texts


def _record_plan(fields: list[tuple[str, Plan]]) -> Plan:
    """A record: its entries copied from a template holding the field names, then the
    values written by code generated per class read (``_fields_writer``)."""
    k_record = _K["RECORD"]
    n = len(fields)
    size = n * ENTRY
    template = bytearray(size)
    for i, (name, _) in enumerate(fields):
        encoded = name.encode("utf-8")
        struct.pack_into("<QQ", template, i * ENTRY, len(encoded), _keep(encoded))
    entries = bytes(template)
    pack = _VEC.pack_into
    # A domain dataclass is read directly, through the attribute ``to_wit`` would copy
    # each WIT field from (per class, on first use).
    generic = _fields_writer(
        [(name, i * ENTRY + ENTRY_VAL, plan) for i, (name, plan) in enumerate(fields)]
    )
    by_class: dict[type, Callable[[Any, Arena, int], None]] = {Record: generic}

    def writer(cls: type) -> Callable[[Any, Arena, int], None] | None:
        found = convert.wit_fields(cls)
        if found is None or any(name not in found for name, _ in fields):
            return None
        read = [(found[name], i * ENTRY + ENTRY_VAL, plan) for i, (name, plan) in enumerate(fields)]
        write = by_class[cls] = _fields_writer(read)
        return write

    def low_record(val: Any, a: Arena, off: int) -> None:
        write = by_class.get(type(val)) or writer(type(val))
        if write is None:
            val, write = _as_wit(val), generic
        at = _alloc(a, size)
        view = a.view
        view[at : at + size] = entries
        pack(view, off, k_record, n, a.base + at)
        write(val, a, at)

    return low_record


_TEXT_INLINE = """
    d = v.encode("utf-8")
    m = len(d)
    s = a.top
    e = s + ((m + 7) & -8)
    if e > a.cap:
        raise _Full
    a.top = e
    view[s : s + m] = d
"""


# A list or tuple of str: its array, then each item as text; an item of another class
# sends the whole value to the plan (what was written for it is left unused in the arena).
_TEXTS_INLINE = """
    c = v.__class__
    if (c is tuple or c is list) and not v:
        pack_vec(view, SLOT, K, 0, base)
    elif c is tuple or c is list:
        n = len(v)
        o = a.top
        e = o + 32 * n
        if e > a.cap:
            raise _Full
        a.top = e
        first = o
        for x in v:
            if x.__class__ is not str:
                pOTHER(v, a, SLOT)
                break
TEXT_OF_X
            pack_vec(view, o, Q, m, base + s)
            o += 32
        else:
            pack_vec(view, SLOT, K, n, base + first)
"""
_TEXTS_INLINE = _TEXTS_INLINE.replace(
    "TEXT_OF_X",
    "\n".join(
        "        " + line.replace("v.encode", "x.encode")
        for line in _TEXT_INLINE.strip("\n").splitlines()
    ),
)

_compiled: dict[str, Any] = {}  # generated source → its code object (plans differ per call)


def _fields_writer(read: list[tuple[str, int, Plan]]) -> Callable[[Any, Arena, int], None]:
    """``write(val, arena, at)``: each field ``getattr(val, attr)`` lowered at ``at +
    where``, as its plan would, with the common shapes (text, integers, bools, options of
    those, lists of text) inlined: in one generated function a summary's 15 fields cost
    about a third of what their plan calls did. Anything off the inlined path (a value of
    another class) goes to the field's plan, which decides as before."""
    env: dict[str, Any] = {"_Full": _Full, "pack_vec": _VEC.pack_into, "pack_ptr": _PTR.pack_into}
    lines = ["def write(val, a, at):", "    view = a.view", "    base = a.base"]
    for i, (attr, where, plan) in enumerate(read):
        env[f"p{i}"] = plan
        shape = _SHAPES.get(plan, ("call",))
        if attr.isidentifier() and not keyword.iskeyword(attr):
            lines.append(f"    v = val.{attr}")
        else:  # a WIT name on a ``Record`` ("account-id"), or a keyword
            env[f"n{i}"] = attr
            lines.append(f"    v = getattr(val, n{i})")
        slot = f"at + {where}"
        if shape[0] == "text":
            env[f"k{i}"] = shape[1]
            lines.append("    if v.__class__ is str:")
            lines.extend("    " + line for line in _TEXT_INLINE.strip("\n").splitlines())
            lines.append(f"        pack_vec(view, {slot}, k{i}, m, base + s)")
            lines.append(f"    else:\n        p{i}(v, a, {slot})")
        elif shape[0] == "int" or shape[0] == "bool":
            env[f"k{i}"], env[f"w{i}"] = shape[1], shape[2].pack_into
            cls = "int" if shape[0] == "int" else "bool"
            lines.append(f"    if v.__class__ is {cls}:\n        w{i}(view, {slot}, k{i}, v)")
            lines.append(f"    else:\n        p{i}(v, a, {slot})")
        elif shape[0] == "texts":  # list<string>: the items' checks and writes inline
            env[f"k{i}"], env[f"q{i}"] = shape[1], shape[2]
            lines.extend(
                line.replace("SLOT", slot)
                .replace("pOTHER", f"p{i}")
                .replace(" K,", f" k{i},")
                .replace(" Q,", f" q{i},")
                for line in _TEXTS_INLINE.strip("\n").splitlines()
            )
            lines.append(f"    else:\n        p{i}(v, a, {slot})")
        elif shape[0] == "option":
            env[f"k{i}"] = _K["OPTION"]
            inner = _SHAPES.get(shape[1], ("call",))
            lines.append(f"    if v is None:\n        pack_ptr(view, {slot}, k{i}, 0)")
            if inner[0] == "text":
                env[f"q{i}"] = inner[1]
                lines.append("    elif v.__class__ is str:")
                lines.append("        o = a.top")
                lines.append("        if o + 32 > a.cap:\n            raise _Full")
                lines.append("        a.top = o + 32")
                lines.extend("    " + line for line in _TEXT_INLINE.strip("\n").splitlines())
                lines.append(f"        pack_vec(view, o, q{i}, m, base + s)")
                lines.append(f"        pack_ptr(view, {slot}, k{i}, base + o)")
            elif inner[0] == "int":
                env[f"q{i}"], env[f"w{i}"] = inner[1], inner[2].pack_into
                lines.append("    elif v.__class__ is int:")
                lines.append("        o = a.top")
                lines.append("        if o + 32 > a.cap:\n            raise _Full")
                lines.append("        a.top = o + 32")
                lines.append(f"        w{i}(view, o, q{i}, v)")
                lines.append(f"        pack_ptr(view, {slot}, k{i}, base + o)")
            lines.append(f"    else:\n        p{i}(v, a, {slot})")
        else:
            lines.append(f"    p{i}(v, a, {slot})")
    if not read:
        lines.append("    pass")
    source = "\n".join(lines) + "\n"
    code = _compiled.get(source)
    if code is None:
        code = _compiled[source] = compile(source, "<prx-email lowering>", "exec")
    # Only identifiers (checked above; anything else is read with getattr and a constant),
    # integers and names of ``env`` enter the source: a component's own field names cannot
    # inject code (WIT names are kebab-case anyway).
    exec(code, env)
    write: Callable[[Any, Arena, int], None] = env["write"]
    return write


def _option_plan(payload: Plan, fits: Callable[[Any], bool]) -> Plan:
    k_option = _K["OPTION"]
    pack = _PTR.pack_into

    def low_option(val: Any, a: Arena, off: int) -> None:
        # Untagged (the payload's classes do not include None): None is none.
        if val is None:
            pack(a.view, off, k_option, 0)
            return
        if not fits(val):
            val = _as_wit(val)
            if val is None or not fits(val):
                raise ValueError("value not valid for this variant")
        at = _alloc(a, VAL)
        payload(val, a, at)
        pack(a.view, off, k_option, a.base + at)

    _SHAPES[low_option] = ("option", payload)
    return low_option


def _result_plan(
    ty: Any, sub: Callable[[Any], Plan], result_err: type, error_of: Callable[[Any], Any]
) -> Plan:
    k_result = _K["RESULT"]
    pack = _RESULT.pack_into
    cases = [
        (is_ok, None if t is None else sub(t), None if t is None else _fits(t))
        for is_ok, t in ((True, ty.ok), (False, ty.err))
    ]
    err_plan = cases[1][1]

    def choose(val: Any) -> tuple[bool, Plan | None] | None:
        for case_ok, plan, fits in cases:
            if plan is None or fits is None:
                if val is None:
                    return case_ok, None
            elif fits(val):
                return case_ok, plan
        return None

    def low_result(val: Any, a: Arena, off: int) -> None:
        plan: Plan | None
        if isinstance(val, result_err):  # the err case, whatever the ok type accepts
            if err_plan is None:
                raise ValueError("this result has no err payload")
            ok, plan, val = False, err_plan, error_of(val)
        else:
            chosen = choose(val)
            if chosen is None:
                val = _as_wit(val)
                chosen = choose(val)
                if chosen is None:
                    raise ValueError("value not valid for this variant")
            ok, plan = chosen
        addr = 0
        if plan is not None:
            at = _alloc(a, VAL)
            plan(val, a, at)
            addr = a.base + at
        pack(a.view, off, k_result, ok, addr)

    return low_result


def _variant_plan(ty: Any, sub: Callable[[Any], Plan]) -> Plan:
    k_variant = _K["VARIANT"]
    pack = _VARIANT.pack_into
    tagged = ty._tagged()
    cases = []
    for name, t in ty.cases:
        encoded = name.encode("utf-8")
        tag = (len(encoded), _keep(encoded))
        cases.append((name, tag, None if t is None else sub(t), None if t is None else _fits(t)))
    by_tag = {name: (tag, plan) for name, tag, plan, _ in cases}

    def choose(val: Any) -> tuple[tuple[int, int], Plan | None, Any]:
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

    def untagged(val: Any) -> tuple[tuple[int, int], Plan | None, Any] | None:
        for _, tag, plan, fits in cases:
            if fits is None:
                if val is None:
                    return tag, None, None
            elif fits(val):
                return tag, plan, val
        return None

    def low_variant(val: Any, a: Arena, off: int) -> None:
        (size, name), plan, payload = choose(val)
        addr = 0
        if plan is not None:
            at = _alloc(a, VAL)
            plan(payload, a, at)
            addr = a.base + at
        pack(a.view, off, k_variant, size, name, addr)

    return low_variant


_local = threading.local()


def _drop_owned(a: Arena) -> None:
    owned, a.owned = a.owned, []
    for addr in owned:
        _val_delete(addr)


def lower_into(plan: Plan, val: Any, ptr: Any, store: Any) -> None:
    """Lower ``val`` into the ``val_t`` behind the ctypes pointer ``ptr`` (wasmtime's slot)."""
    addr = ctypes.cast(ptr, ctypes.c_void_p).value
    if not addr:
        raise ValueError("no result slot")
    ctypes.memset(addr, 0, VAL)  # wasmtime's slot is uninitialised: make it a bool false
    a: Arena | None = getattr(_local, "arena", None)
    if a is None or a.busy:  # first use on this thread, or a lowering within a lowering
        a = Arena(_FIRST_ARENA)
        if getattr(_local, "arena", None) is None:
            _local.arena = a
    a.busy, a.store = True, store
    try:
        while True:
            a.top = VAL  # the root value at 0
            try:
                plan(val, a, 0)
                break
            except _Full:
                _drop_owned(a)
                grown = Arena(a.cap * 4)
                if _local.arena is a:
                    _local.arena = grown
                a.busy, a = False, grown
                a.busy, a.store = True, store
        _val_clone(a.base, addr)
    finally:
        _drop_owned(a)
        a.busy, a.store = False, None
        if a.cap > _KEEP_ARENA and getattr(_local, "arena", None) is a:
            _local.arena = None
