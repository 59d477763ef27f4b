"""A timeout message names the timeout that fired (issue 10 item 12), at every layer.

``OperationTimeout`` is a ``TimeoutError``: any ``except TimeoutError`` above the IMAP layer
(the scheduler's job timeout, the façade's call timeout) must let it through unchanged.
"""

from __future__ import annotations

import asyncio

import pytest
from prx_email.errors import OperationTimeout
from prx_email.mail.errors import map_imap_errors
from prx_email.services.facade import _LoopThread
from prx_email.services.scheduler import RunnerConfig, SyncJob, run_sync_runner


def test_the_imap_timeout_names_its_key_and_value() -> None:
    with pytest.raises(OperationTimeout) as info, map_imap_errors("127.0.0.1", 993, timeout=5):
        raise TimeoutError
    assert "did not answer within 5 s" in info.value.message
    assert "[accounts.imap] timeout = 5" in info.value.message
    assert info.value.hint and "max_messages" not in info.value.hint
    assert "timeout" in info.value.hint


def test_without_a_known_timeout_the_message_stays_generic() -> None:
    with (
        pytest.raises(OperationTimeout, match="did not answer in time"),
        map_imap_errors("127.0.0.1", 993),
    ):
        raise TimeoutError


async def test_the_job_timeout_keeps_an_inner_timeouts_message() -> None:
    async def runner(job: SyncJob) -> tuple[int, bool]:
        raise OperationTimeout("IMAP server x did not answer within 5 s", hint="h")

    cfg = RunnerConfig(job_timeout_seconds=60.0)
    (job,) = (await run_sync_runner([SyncJob(1, "INBOX")], 0.0, cfg, runner=runner)).jobs
    assert job.error_code == "EMAIL_TIMEOUT"
    assert job.error == "IMAP server x did not answer within 5 s"


def test_the_facade_passes_a_services_timeout_through() -> None:
    loop = _LoopThread()

    async def slow_server() -> None:
        raise OperationTimeout("IMAP server x did not answer within 5 s", hint="h")

    async def too_long() -> None:
        await asyncio.sleep(30)

    try:
        with pytest.raises(OperationTimeout, match="within 5 s"):
            loop.run(slow_server(), 600.0, "the sync", "h")
        with pytest.raises(OperationTimeout, match=r"host's 0\.2 s limit"):
            loop.run(too_long(), 0.2, "the sync", "h")
    finally:
        loop.close()
