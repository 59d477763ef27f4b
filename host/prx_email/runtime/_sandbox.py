"""Instances of the guest component: limits, deadlines, traps and re-instantiation.

Every call runs in its own ``Store`` slot with a linear-memory cap and an epoch
deadline for guest compute. Time spent in host functions does not count: the bridge
calls ``pause``/``resume`` around every host function, and ``resume`` re-arms the
deadline with what is left of the budget (host functions have their own timeouts).

A trap (deadline, memory, ``unreachable`` from a guest abort, a Python exception
that escaped a host function) poisons that instance: the slot is dropped and the
next call instantiates a fresh one, so one bad call never breaks the next.
Calls are serialized per instance; a small pool of slots lets calls run in parallel.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import wasmtime
from wasmtime.component import Component, Func, Linker

from ..errors import (
    SANDBOX_CLOSED,
    SANDBOX_MEMORY,
    SANDBOX_TIMEOUT,
    SANDBOX_TRAP,
    ConfigError,
    ErrorCode,
    default_hint,
)
from ..errors import SANDBOX_OUTPUT_TOO_LARGE as SANDBOX_OUTPUT
from ..metrics import record_sandbox_call
from ._engine import deadline_ticks

log = logging.getLogger(__name__)

INVALID_ARGUMENT = ErrorCode.INVALID_ARGUMENT.envelope
#: A failed call's code → its ``outcome`` label in ``prx_email_sandbox_calls_total``.
_OUTCOMES = {
    SANDBOX_TIMEOUT: "timeout",
    SANDBOX_MEMORY: "memory",
    SANDBOX_TRAP: "trap",
    SANDBOX_OUTPUT: "too_large",
    SANDBOX_CLOSED: "closed",
}

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-call limits of the sandbox."""

    #: Linear memory of one instance, in bytes.
    memory_bytes: int = 256 * MiB
    #: Guest compute per call, in seconds (time inside host functions excluded).
    deadline_seconds: float = 5.0
    #: Largest envelope accepted from the guest, in bytes.
    max_output_bytes: int = 16 * MiB
    #: Largest tool name + arguments passed to the guest, in characters.
    max_input_chars: int = 16 * MiB
    #: Instances kept for concurrent calls.
    pool_size: int = 2
    #: Budget for instantiation (the guest's start-up code), in seconds.
    instantiate_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.memory_bytes <= 0 or self.deadline_seconds <= 0 or self.pool_size <= 0:
            raise ConfigError("sandbox limits must be positive")


class SandboxError(Exception):
    """A call that did not produce a guest answer: an ``EMAIL_SANDBOX_…`` (or argument) code.

    The hint defaults to the code's (``errors.CODES``); ``prx_email.envelope`` turns it into
    the error envelope.
    """

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint or default_hint(code)


class _Budget:
    """Guest-compute budget of the call running in one store."""

    def __init__(self, store: wasmtime.Store, seconds: float) -> None:
        self._store = store
        self._seconds = seconds
        self._used = 0.0
        self._since = 0.0

    def start(self) -> None:
        self._used = 0.0
        self._since = time.monotonic()
        self._store.set_epoch_deadline(deadline_ticks(self._seconds))

    def pause(self) -> None:
        self._used += time.monotonic() - self._since

    def resume(self) -> None:
        self._since = time.monotonic()
        left = self._seconds - self._used
        self._store.set_epoch_deadline(deadline_ticks(left) if left > 0 else 1)


_current = threading.local()


def pause_guest_clock() -> None:
    """Called by the bridge when a host function starts."""
    budget: _Budget | None = getattr(_current, "budget", None)
    if budget is not None:
        budget.pause()


def resume_guest_clock() -> None:
    """Called by the bridge when a host function returns."""
    budget: _Budget | None = getattr(_current, "budget", None)
    if budget is not None:
        budget.resume()


@dataclass(slots=True)
class _Slot:
    store: wasmtime.Store
    execute: Func
    describe: Func
    budget: _Budget
    #: ``Sandbox.generation`` when it was created; older slots are not reused.
    generation: int = 0
    calls: int = 0


class Sandbox:
    """A pool of instances of one component, linked to the host functions only.

    :raises ConfigError: the component needs imports the host does not provide (e.g. WASI).
    """

    def __init__(
        self,
        engine: wasmtime.Engine,
        component: Component,
        define_host: Callable[[Linker], None],
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._engine = engine
        self._component = component
        self._linker = Linker(engine)
        # No WASI and no unknown-imports-as-traps: a component that wants anything
        # beyond the host interface fails to link instead of running half-sandboxed.
        define_host(self._linker)
        self._idle: queue.LifoQueue[_Slot] = queue.LifoQueue()
        self._capacity = threading.BoundedSemaphore(self.limits.pool_size)
        self._closed = False
        self.instantiations = 0
        self.traps = 0
        self.generation = 0
        self._idle.put(self._new_slot())  # fail fast, and warm

    # -- public -----------------------------------------------------------------

    def execute(self, tool: str, args_json: str) -> str:
        """The guest's envelope (JSON text) for one tool call.

        :raises SandboxError: the call produced no answer (trap, deadline, memory, closed,
            input or output over its cap).
        :raises EmailError: a fresh instance could not be created (e.g. a broken component).
        """
        if len(tool) + len(args_json) > self.limits.max_input_chars:
            raise SandboxError(
                INVALID_ARGUMENT,
                f"the arguments are larger than {self.limits.max_input_chars} characters",
                hint="send large content as an attachment path instead of inline",
            )
        return self._call("execute", tool, args_json)

    def describe(self) -> str:
        """The guest's catalogue JSON.

        :raises SandboxError: the guest trapped or the sandbox is closed.
        """
        return self._call("describe")

    def recycle(self) -> None:
        """Retire every instance: later calls run in fresh ones (which ask for new limits).

        Instances busy right now finish their call and are then dropped.
        """
        self.generation += 1
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break

    # -- internals ----------------------------------------------------------------

    def _new_slot(self) -> _Slot:
        store = wasmtime.Store(self._engine)
        store.set_limits(memory_size=self.limits.memory_bytes)
        store.set_epoch_deadline(deadline_ticks(self.limits.instantiate_seconds))
        try:
            instance = self._linker.instantiate(store, self._component)
        except wasmtime.WasmtimeError as exc:
            text = str(exc)
            if "matching implementation was not found" in text or "import" in text:
                raise ConfigError(
                    f"the plugin component cannot be linked: {text.splitlines()[0]}",
                    hint="the component may import only prx:email/host; "
                    "build it with `componentize-py ... --stub-wasi` (`make build`)",
                ) from exc
            raise SandboxError(SANDBOX_TRAP, f"instantiating the plugin failed: {text}") from exc
        execute = instance.get_func(store, "execute")
        describe = instance.get_func(store, "describe")
        if execute is None or describe is None:
            raise ConfigError(
                "the component does not export execute and describe",
                hint="build it from guest/ against wit/world.wit (`make build`)",
            )
        self.instantiations += 1
        budget = _Budget(store, self.limits.deadline_seconds)
        return _Slot(store, execute, describe, budget, self.generation)

    def _checkout(self) -> _Slot:
        if self._closed:
            raise SandboxError(SANDBOX_CLOSED, "the plugin is closed")
        self._capacity.acquire()
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            return self._new_slot()
        except BaseException:
            self._capacity.release()
            raise

    def _call(self, export: str, *args: str) -> str:
        tool = args[0] if args else export
        start = time.monotonic()
        try:
            result = self._call_slot(export, *args)
        except SandboxError as exc:
            record_sandbox_call(tool, _OUTCOMES.get(exc.code, "trap"), time.monotonic() - start)
            raise
        # The guest's envelope starts with its "ok" member (guest _envelope.py).
        outcome = "error" if result.startswith('{"ok":false') else "ok"
        record_sandbox_call(tool, outcome, time.monotonic() - start)
        return result

    def _call_slot(self, export: str, *args: str) -> str:
        slot = self._checkout()
        func = slot.execute if export == "execute" else slot.describe
        healthy = False
        _current.budget = slot.budget
        slot.budget.start()
        try:
            result = func(slot.store, *args)
            healthy = True
        except Exception as exc:
            raise self._trap_error(exc) from exc
        finally:
            _current.budget = None
            slot.calls += 1
            if healthy and not self._closed and slot.generation == self.generation:
                self._idle.put(slot)
            self._capacity.release()
        if not isinstance(result, str):
            raise SandboxError(SANDBOX_TRAP, f"the guest's {export} returned a non-string")
        if len(result) > self.limits.max_output_bytes:
            raise SandboxError(
                SANDBOX_OUTPUT,
                f"the guest's answer is larger than {self.limits.max_output_bytes} bytes",
                hint="ask for fewer results (a smaller limit)",
            )
        return result

    def _trap_error(self, exc: Exception) -> SandboxError:
        """Classify a failed call; the slot it ran in has already been dropped."""
        self.traps += 1
        text = str(exc)
        first = _reason(text) or type(exc).__name__
        trapped = isinstance(exc, wasmtime.WasmtimeError)
        if trapped and first == "interrupt":  # the epoch deadline
            log.warning("guest call stopped at the deadline")
            return SandboxError(
                SANDBOX_TIMEOUT,
                f"the plugin exceeded its {self.limits.deadline_seconds:g} s compute deadline",
            )
        if _looks_like_memory(text):
            log.warning("guest call stopped at the memory limit: %s", first)
            return SandboxError(
                SANDBOX_MEMORY,
                f"the plugin exceeded its {self.limits.memory_bytes // MiB} MiB memory limit",
                hint=f"{default_hint(SANDBOX_TRAP)} {default_hint(SANDBOX_MEMORY)}",
            )
        if trapped:
            log.warning("guest call trapped: %s", first)
        else:  # a Python exception that escaped a host function
            log.error("host function failed during a guest call", exc_info=exc)
        return SandboxError(SANDBOX_TRAP, f"the plugin trapped: {first}")


def _reason(text: str) -> str:
    """The cause of a wasmtime error: its last line ("wasm trap: ..."), without the prefix."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1].removeprefix("wasm trap: ")


def _looks_like_memory(text: str) -> bool:
    lowered = text.lower()
    return any(
        marker in lowered
        for marker in ("out of memory", "memory limit", "allocation too large", "memoryerror")
    )
