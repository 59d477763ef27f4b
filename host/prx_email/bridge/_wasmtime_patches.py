"""Targeted fixes to wasmtime-py 50's dynamic value lowering, applied once.

1. **Correctness.** ``result<option<T>, E>`` cannot carry its err case from an untagged
   value: the option accepts any object, so every value is lowered as ``ok`` and an
   error raises ``ValueError`` inside the host function (a trap). ``ResultType._lower``
   learns to lower ``convert.ResultErr`` as ``err``; everything else is unchanged.
2. **Speed.** Lowering re-reads the component type through the C API for every value:
   ``RecordType.fields`` (one FFI call and one new ``ValType`` per field), option/result
   payload types, ``_tagged`` — per record, per field, per list element. Type objects
   describe a fixed component type, so their answers are memoized per type object; a
   page of 20 summaries drops from ~30 ms to a few ms. ``bytes_to_capi`` also loses a
   redundant intermediate copy.

3. **Speed, per host function.** wasmtime-py's host-function trampoline (``_linker.func_impl``)
   rebuilds the function's type objects on every call, so fix 2's memos never outlive a
   call. The replacement here keeps each host function's parameter types and a lowering
   plan for its result (``_lowering``: the result built in an arena of our own and
   deep-copied into wasmtime's slot with one C call) from its first call on; a host
   function's type is fixed by the WIT it was linked for (one ``Linker`` per sandbox and
   component). Those plans also read domain values (``convert.page``): ``apply`` says
   whether they are in force.

Only fixes 2 and 3 are guarded by the wasmtime version it was written against (it relies on the
private attribute layout of ``wasmtime.component._types``); on another version it is
skipped. Fix 1 is applied on every version: it only adds a case for our own marker type
and defers to the original for everything else (the bridge tests fail if it stops working).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import _enter, _func, _linker, _types

from ..runtime import wasmtime_version
from . import _lowering

SUPPORTED = ("50.",)

_applied = False
_planned = False


def _memo_property(cls: type, name: str) -> None:
    prop = cls.__dict__[name]
    getter: Callable[[Any], Any] = prop.fget
    slot = f"_prx_memo_{name}"

    def get(self: Any) -> Any:
        try:
            return self.__dict__[slot]
        except KeyError:
            value = getter(self)
            self.__dict__[slot] = value
            return value

    setattr(cls, name, property(get, doc=prop.__doc__))


def _memo_method(cls: type, name: str) -> None:
    method: Callable[[Any], Any] = getattr(cls, name)
    slot = f"_prx_memo_{name}"

    def call(self: Any) -> Any:
        try:
            return self.__dict__[slot]
        except KeyError:
            value = method(self)
            self.__dict__[slot] = value
            return value

    setattr(cls, name, call)


_byte_vec_new = ffi.dll["wasm_byte_vec_new"]  # a private handle: argtypes differ
_byte_vec_new.restype = None
_byte_vec_new.argtypes = [ctypes.POINTER(ffi.wasm_byte_vec_t), ctypes.c_size_t, ctypes.c_char_p]


def _bytes_to_capi(s: bytes | bytearray) -> Any:
    """One C call that allocates and copies (the original makes an extra ctypes copy)."""
    if not isinstance(s, bytes | bytearray):
        raise TypeError("expected bytes or bytearray")
    vec = ffi.wasm_byte_vec_t()
    _byte_vec_new(ctypes.byref(vec), len(s), bytes(s))
    return vec


def apply(result_err: type, error_of: Callable[[Any], Any]) -> bool:
    """Install the fixes (idempotent). ``result_err`` values lower as the err case.

    Returns whether results are lowered by plans (fix 3), which read domain values too.
    """
    global _applied, _planned
    if _applied:
        return _planned
    _applied = True
    original_lower = _types.ResultType._lower

    def lower_result(self: Any, store: Any, val: Any) -> Any:
        if isinstance(val, result_err):
            raw = ffi.wasmtime_component_val_t()
            self.err.convert_to_c(store, error_of(val), ctypes.pointer(raw))
            return ("err", ffi.wasmtime_component_val_new(ctypes.byref(raw)))
        return original_lower(self, store, val)

    _types.ResultType._lower = lower_result  # type: ignore[method-assign]

    if not wasmtime_version().startswith(SUPPORTED):
        return False
    _memo_property(_types.RecordType, "fields")
    _memo_property(_types.ListType, "element")
    _memo_property(_types.OptionType, "payload")
    _memo_property(_types.ResultType, "ok")
    _memo_property(_types.ResultType, "err")
    _memo_property(_types.VariantType, "cases")
    _memo_method(_types.ListType, "_is_bytes")
    for cls in (_types.OptionType, _types.ResultType, _types.VariantType):
        _memo_method(cls, "_tagged")
        _memo_method(cls, "_cases")
    ffi.bytes_to_capi = _bytes_to_capi
    if _lowering.check_layout():
        _linker.func_impl = _planned_func_impl(result_err, error_of)
        _planned = True
    _func.Func.type = _memo_func_type(_func.Func.type)  # type: ignore[method-assign,assignment]
    return _planned


def _memo_func_type(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``Func.type`` kept per exported function: a guest call re-read it through the C API
    (one call per parameter plus new type objects) before every call; it never changes."""

    def memo_type(self: Any, store: Any) -> Any:
        try:
            return self.__dict__["_prx_memo_type"]
        except KeyError:
            fty = self.__dict__["_prx_memo_type"] = _FixedFuncType(original(self, store))
            return fty

    return memo_type


class _FixedFuncType:
    """A function type read once: its parameters and result, as ``FuncType`` answers them."""

    def __init__(self, fty: Any) -> None:
        with fty:
            self.params = fty.params
            self.result = fty.result


#: Per host function (wasmtime-py's slab index): parameter types, result type, result plan.
_Plan = tuple[list[Any], Any, "_lowering.Plan | None"]
_plans: dict[int, _Plan] = {}
_trampolines: list[Any] = []  # the ctypes callbacks must outlive every linker using them


def _planned_func_impl(result_err: type, error_of: Callable[[Any], Any]) -> Any:
    """``_linker.func_impl`` with its types and result lowering kept per host function."""

    def plan_of(idx: int, ty_raw: Any, store: Any) -> _Plan:
        with _types.FuncType._from_ptr(ty_raw, owner=store) as fty:
            params = [ty for _, ty in fty.params]
            result = fty.result
        lower = None if result is None else _lowering.plan_for(result, result_err, error_of)
        plan = _plans[idx] = (params, result, lower)
        return plan

    @ffi.wasmtime_component_func_callback_t
    def func_impl(idx, context, ty_raw, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
        def run(store: Any) -> None:
            key = idx or 0
            params, result_ty, lower = _plans.get(key) or plan_of(key, ty_raw, store)
            assert len(params) == nargs and nresults == (0 if result_ty is None else 1)
            pyargs = [ty.convert_from_c(args[i]) for i, ty in enumerate(params)]
            result = _linker.FUNCTIONS.get(key)(store, *pyargs)
            if lower is None:
                assert result is None
            else:
                _lowering.lower_into(lower, result, results, store)

        return _enter.catch_exceptions(context, run)

    _trampolines.append(func_impl)
    return func_impl
