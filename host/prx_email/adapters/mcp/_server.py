"""The MCP server over one sandboxed ``Plugin``: tools, resources, prompts, subscriptions.

Built on the SDK's low-level ``mcp.server.Server`` so every schema comes from the plugin's
own catalogue (``Plugin.describe``), never from Python signatures. Every tool call and
resource read is a ``Plugin.execute`` in a worker thread (same gate, policy and bounds as
any other entry point).

Concurrency: requests run concurrently (the SDK starts one task per request). The
sandbox's instance pool bounds them; calls that may wait on a mail server (``is_slow``:
the catalogue's ``network`` effect, refined per call) share a slow lane of
``pool_size - 1`` instances, so at least one instance is always left for local reads.
A cancelled request (``notifications/cancelled``) stops waiting at once; the sandboxed
call runs to its end in its thread (the outbox row it writes is committed or not, as for
any caller), its lane slot is released when it ends, and its outcome is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import mcp.types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.subscriptions import ListenHandler
from mcp.shared.exceptions import MCPError

from ..._aio import cancel_and_wait
from ...api import Plugin
from ...bridge.gate import network_enabled
from ...envelope import Envelope
from . import _prompts, _resources, _tools
from ._changes import ChangeSource, StoreWatcher, Subscriptions

__all__ = ["McpApp", "build_server"]

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "prx-email: a sandboxed mailbox. Start with email.accounts to learn the account ids, "
    "email.list / email.search to find messages (their id feeds email.get, email.thread, "
    "email.reply), and email.sync to fetch new mail (needs the host's network flag). "
    "Sending goes through a durable outbox (email.outbox shows it). Prefer drafts "
    "(email.draft_create) when the user has not clearly asked to send."
)


class McpApp:
    """The server's state: the plugin, its catalogue, the lanes and the subscriptions."""

    def __init__(
        self,
        plugin: Plugin,
        *,
        source: ChangeSource | None = None,
        watch_interval: float = 0.25,
    ) -> None:
        self.plugin = plugin
        self.catalogue = plugin.describe()
        self.tools = _tools.as_tools(self.catalogue)
        self._entries = {e["name"]: e for e in self.catalogue}
        self._slow = asyncio.Semaphore(max(1, plugin.limits.pool_size - 1))
        self._watcher: StoreWatcher | None = None
        if source is None:
            self._watcher = StoreWatcher(plugin.context.db, interval=watch_interval)
            source = self._watcher
        self.source = source
        self.subscriptions = Subscriptions()
        self._pump: asyncio.Task[None] | None = None

    # -- calls ---------------------------------------------------------------------------
    async def execute(self, tool: str, args: dict[str, Any]) -> Envelope:
        """``Plugin.execute`` in a worker thread, in the slow lane for network tools."""
        entry = self._entries.get(tool)
        if entry is None or not _tools.is_slow(entry, args, network_on=network_enabled()):
            return await self._run(tool, args, None)
        await self._slow.acquire()
        return await self._run(tool, args, self._slow.release)

    async def _run(
        self, tool: str, args: dict[str, Any], release: Callable[[], None] | None
    ) -> Envelope:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.plugin.execute, tool, args)
        if release is not None:
            future.add_done_callback(lambda _f: release())
        try:
            # shield: a cancelled request must not cancel the executor future (whose
            # callback frees the lane only when the sandboxed call has really ended).
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(lambda f: _log_abandoned(tool, f))
            raise

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(
                self.subscriptions.pump(self.source), name="prx-mcp-changes"
            )

    async def stop(self) -> None:
        if self._pump is not None:
            await cancel_and_wait(self._pump)
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._watcher is not None:
            self._watcher.close()


def _log_abandoned(tool: str, future: asyncio.Future[Envelope]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.warning("a cancelled %s call failed afterwards: %s", tool, type(exc).__name__)
        return
    answer = future.result()
    code = "ok" if answer.get("ok") else answer.get("error", {}).get("code")
    log.info("a cancelled %s call ended after its request: %s", tool, code)


def build_server(app: McpApp, *, version: str = "") -> Server[Any]:
    """The low-level MCP server whose handlers answer from ``app``."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=app.tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        started = time.perf_counter()
        envelope = await app.execute(params.name, dict(params.arguments or {}))
        if log.isEnabledFor(logging.DEBUG):  # the tool and outcome only: never an argument
            outcome = "ok" if envelope.get("ok") else envelope.get("error", {}).get("code")
            elapsed = (time.perf_counter() - started) * 1000
            log.debug("tools/call %s: %s in %.1f ms", params.name, outcome, elapsed)
        return _tools.as_result(params.name, envelope)

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        views = list(_resources.STATIC)
        accounts = await app.execute("email.accounts", {})
        for acc in accounts["data"] if accounts.get("ok") else []:
            views += _resources.account_uris(int(acc["id"]), str(acc.get("name") or acc["id"]))
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=v.uri, name=v.name, description=v.description, mime_type="application/json"
                )
                for v in views
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            envelope = await _resources.read_view(uri, app.execute)
        except _resources.UnknownResource:
            raise MCPError(types.INVALID_PARAMS, f"no resource {uri}") from None
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=_resources.as_text(envelope)
                )
            ]
        )

    async def subscribe(
        ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        uri = str(params.uri)
        if not _resources.is_known(uri):
            raise MCPError(types.INVALID_PARAMS, f"no resource {uri}")
        app.subscriptions.subscribe(ctx.session, uri)
        return types.EmptyResult()

    async def unsubscribe(
        ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        app.subscriptions.unsubscribe(ctx.session, str(params.uri))
        return types.EmptyResult()

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=_prompts.list_prompts())

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        try:
            return _prompts.get_prompt(params.name, params.arguments)
        except _prompts.UnknownPrompt:
            raise MCPError(types.INVALID_PARAMS, f"no prompt {params.name}") from None
        except ValueError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None

    return Server(
        "prx-email",
        version=version,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_subscriptions_listen=ListenHandler(app.subscriptions.bus),
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )
