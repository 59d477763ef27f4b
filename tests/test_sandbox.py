"""A hostile guest against the real host: every escape fails, every abuse is stopped,
and the next call is served by a fresh instance."""

from __future__ import annotations

import asyncio
import time

import pytest
from prx_email import Plugin
from prx_email.runtime import (
    SANDBOX_MEMORY,
    SANDBOX_OUTPUT,
    SANDBOX_TIMEOUT,
    SANDBOX_TRAP,
    Limits,
    Sandbox,
    SandboxError,
)

pytestmark = pytest.mark.component


def _assert_next_call_works(plugin: Plugin) -> None:
    assert plugin.execute("ok") == {"ok": True, "data": "pong"}


def test_baseline(hostile: Plugin) -> None:
    _assert_next_call_works(hostile)
    assert hostile.sandbox.instantiations == 1


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ", "mail.db", "."])
def test_reading_a_file_fails(hostile: Plugin, path: str) -> None:
    envelope = hostile.execute("read-file", {"path": path})
    assert envelope["ok"] is False
    assert "root:" not in str(envelope)
    _assert_next_call_works(hostile)


def test_environment_is_empty(hostile: Plugin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRX_TEST_SECRET", "hunter2")
    monkeypatch.setenv("PRX_EMAIL_ENABLE_REAL_NETWORK", "1")
    envelope = hostile.execute("env")
    assert envelope == {"ok": True, "data": {}}


def test_opening_a_socket_fails(hostile: Plugin) -> None:
    envelope = hostile.execute("socket", {"host": "127.0.0.1", "port": 9})
    assert envelope["ok"] is False
    assert envelope.get("data") != "connected"
    _assert_next_call_works(hostile)


def test_an_escaping_exception_is_a_trap_not_a_crash(hostile: Plugin) -> None:
    envelope = hostile.execute("raise")
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == SANDBOX_TRAP
    assert "unreachable" in envelope["error"]["message"]
    _assert_next_call_works(hostile)
    assert hostile.sandbox.traps == 1


def test_deadline_stops_a_spin_and_the_next_call_succeeds(hostile: Plugin) -> None:
    started = time.monotonic()
    envelope = hostile.execute("spin")
    elapsed = time.monotonic() - started
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == SANDBOX_TIMEOUT
    assert "deadline" in envelope["error"]["message"]
    assert 0.9 <= elapsed < 5.0  # wall-clock epochs; generous for loaded CI machines
    _assert_next_call_works(hostile)


def test_memory_limit_stops_an_allocation_and_the_next_call_succeeds(hostile: Plugin) -> None:
    envelope = hostile.execute("alloc")
    assert envelope["ok"] is False
    # The guest sees MemoryError (memory.grow fails at the cap) or traps; either way the
    # host keeps serving.
    assert "MemoryError" in envelope["error"]["message"] or envelope["error"]["code"].startswith(
        "EMAIL_SANDBOX_"
    )
    _assert_next_call_works(hostile)


def test_memory_error_escaping_the_guest_traps_and_the_next_call_succeeds(
    hostile: Plugin,
) -> None:
    envelope = hostile.execute("alloc-uncaught")
    assert envelope["ok"] is False
    assert envelope["error"]["code"] in {SANDBOX_TRAP, SANDBOX_MEMORY}
    _assert_next_call_works(hostile)


def test_huge_output_within_memory_is_returned(hostile: Plugin) -> None:
    envelope = hostile.execute("huge", {"size": 1_000_000})
    assert envelope["ok"] is True
    assert len(envelope["data"]) == 1_000_000


def test_output_over_the_cap_is_refused(hostile_wasm, fake_services) -> None:
    from prx_email.bridge import define_host
    from prx_email.runtime import load_component, shared_engine

    engine = shared_engine()
    component = load_component(engine, hostile_wasm).component
    sandbox = Sandbox(
        engine,
        component,
        lambda linker: define_host(linker, fake_services),
        Limits(max_output_bytes=100_000),
    )
    try:
        with pytest.raises(SandboxError) as caught:
            sandbox.execute("huge", '{"size": 200000}')
        assert caught.value.code == SANDBOX_OUTPUT
        assert caught.value.hint  # the sandbox raises; it never hands back JSON
        assert sandbox.execute("ok", "{}") == '{"ok": true, "data": "pong"}'
    finally:
        sandbox.close()


def test_time_in_host_functions_does_not_count(hostile_wasm, make_plugin, fake_services) -> None:
    fake_services.list_delay = 0.8
    plugin = make_plugin(hostile_wasm, services=fake_services, deadline=0.5)
    envelope = plugin.execute("host-list")
    assert envelope == {"ok": True, "data": {"count": 0}}


async def test_aexecute_does_not_block_the_event_loop(hostile: Plugin) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    envelope = await hostile.aexecute("spin")
    task.cancel()
    assert envelope["error"]["code"] == SANDBOX_TIMEOUT
    assert ticks > 20


def test_concurrent_calls_use_the_pool(hostile: Plugin) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: hostile.execute("ok"), range(16)))
    assert all(r == {"ok": True, "data": "pong"} for r in results)
    assert hostile.sandbox.instantiations <= hostile.limits.pool_size


def test_keyboard_interrupt_in_a_host_function_reaches_the_caller(hostile, fake_services) -> None:
    fake_services.fail_with = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        hostile.execute("host-list")
    fake_services.fail_with = None
    assert hostile.execute("host-list") == {"ok": True, "data": {"count": 0}}
    assert hostile.sandbox.traps == 0


def test_recycle_retires_idle_and_busy_instances(hostile, fake_services) -> None:
    import threading

    sandbox = hostile.sandbox
    assert hostile.execute("ok", {})["ok"] is True
    before = sandbox.instantiations
    sandbox.recycle()
    assert hostile.execute("ok", {})["ok"] is True
    assert sandbox.instantiations == before + 1  # the idle one was not reused
    # A call in flight during a recycle finishes, and its instance is dropped afterwards.
    fake_services.list_delay = 0.5
    busy = threading.Thread(target=hostile.execute, args=("host-list", {}))
    busy.start()
    while not fake_services.calls:
        time.sleep(0.01)
    sandbox.recycle()
    busy.join()
    assert sandbox._idle.qsize() == 0
    assert hostile.execute("ok", {})["ok"] is True
    assert sandbox.instantiations == before + 2
