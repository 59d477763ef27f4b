"""The Python API for runtimes that embed the plugin.

::

    from prx_email import open_plugin

    with open_plugin(db="mail.db", config="config.toml") as plugin:
        envelope = plugin.execute("email.list", {"account_id": 1})

    async with open_plugin(db="mail.db", config="config.toml") as plugin:
        envelope = await plugin.aexecute("email.search", {"account_id": 1, "query": "invoice"})

``execute`` always answers an envelope dict (``prx_email.envelope``), never raises for a bad
tool name or bad arguments.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from . import envelope
from .auth.deferred import DeferredCredentials
from .bridge import HostServices, define_host
from .bridge.hostfns import raise_pending
from .bridge.policy import Policy, parse_mode
from .config import Config, resolve_db_path
from .config import resolve as config_resolve
from .config.model import PolicyMode
from .envelope import Envelope
from .errors import (
    INVALID_JSON,
    UNSUPPORTED_TOOL,
    ConfigError,
    EmailError,
    ErrorCode,
    InternalError,
)
from .runtime import (
    Limits,
    MiB,
    Sandbox,
    SandboxError,
    load_component,
    locate_component,
    pause_guest_clock,
    resume_guest_clock,
    shared_engine,
)
from .services.audit import Auditor, audited, check_entry_point
from .services.context import ServiceContext
from .store.db import Database

# Imported on first use, not here: asyncio (only ``aexecute``), the auth manager (OAuth2
# refresh, token sealing: urllib, cryptography) and the services façade's network modules.
# A process that answers one request from the store — the TA adapter, ``prx-email call`` —
# would otherwise pay ~100 ms of imports it never uses.
if TYPE_CHECKING:
    from .auth import ConfigReload, EnvReload
if TYPE_CHECKING:
    from .types import Event

__all__ = ["Envelope", "Plugin", "load_config", "open_plugin"]

PathArg = str | os.PathLike[str]


class Plugin:
    """One sandboxed plugin over one store and config. Thread-safe; close it when done."""

    def __init__(
        self,
        sandbox: Sandbox,
        context: ServiceContext,
        services: HostServices,
        *,
        component_source: str,
        owned: list[Any],
    ) -> None:
        self._sandbox = sandbox
        self.context = context
        self.services = services
        #: Where the compiled component came from: "memory", "disk" or "compiled".
        self.component_source = component_source
        self._owned = owned
        self._closed = False
        self._lock = threading.Lock()
        #: Appends this plugin's audit entries (its entry point; set by ``open_plugin``).
        self.auditor = Auditor(context.db)

    @property
    def limits(self) -> Limits:
        return self._sandbox.limits

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox

    def execute(self, tool: object, args: object = None) -> Envelope:
        """Run one tool in the sandbox; always returns the envelope as a dict.

        ``args`` is a dict or a JSON text; ``None`` means ``{}``. A tool name that is not a
        string answers ``EMAIL_UNSUPPORTED_TOOL``; args of another type, or text that is not
        valid Unicode (lone surrogates, e.g. from ``errors="surrogateescape"``), answer
        ``EMAIL_INVALID_JSON``.
        """
        if not isinstance(tool, str) or not _encodable(tool):
            shown = type(tool).__name__ if not isinstance(tool, str) else "not valid Unicode"
            return envelope.error(UNSUPPORTED_TOOL, f"the tool name must be a string ({shown})")
        args_json = _args_json(args)
        if not isinstance(args_json, str):
            return args_json
        try:
            try:
                answer = self._sandbox.execute(tool, args_json)
            finally:
                raise_pending()
        except SandboxError as exc:
            return envelope.error(exc.code, exc.message, exc.hint)
        except EmailError as exc:  # a fresh instance could not be created
            return envelope.from_error(exc)
        return _parse(answer)

    async def aexecute(self, tool: object, args: object = None) -> Envelope:
        """``execute`` in a worker thread: the event loop is never blocked by the guest."""
        import asyncio

        return await asyncio.to_thread(self.execute, tool, args)

    def describe(self) -> list[dict[str, Any]]:
        """The tool catalogue: name, description, argument schema, effects, annotations.

        :raises InternalError: the guest failed to produce it.
        """
        try:
            try:
                raw = self._sandbox.describe()
            finally:
                raise_pending()
            catalogue = json.loads(raw)
        except SandboxError as exc:
            raise InternalError(exc.message, hint=exc.hint) from None
        except ValueError:
            raise InternalError("the plugin returned a malformed catalogue") from None
        if not isinstance(catalogue, list):
            raise InternalError("the plugin returned a malformed catalogue")
        return catalogue

    async def adescribe(self) -> list[dict[str, Any]]:
        import asyncio

        return await asyncio.to_thread(self.describe)

    def metrics(self) -> dict[str, Any]:
        """A snapshot of the metrics: the process's counters and histograms (sync runs, send
        attempts, sandbox calls …) and this store's gauges (outbox rows, SMTP circuits),
        as plain data ``{family: {"type", "help", "samples": [{"name", "labels", "value"}]}}``.
        """
        from .metrics import snapshot  # prometheus_client is loaded only when asked

        return snapshot(self.context)

    def reload_config(self, path: PathArg | None = None) -> ConfigReload:
        """Re-read the config file (default: the one in use) and apply it when valid.

        :raises ConfigError: the new file is invalid; the current config stays in effect.
        """
        from .auth import reload_config

        _resolve_credentials(self.context)  # so the reload can drop the manager's tokens
        shown = {"config": str(path) if path is not None else None}
        with audited(self.context.db, "config-reload", shown, entry_point=self.auditor.entry_point):
            result = reload_config(self.context, None if path is None else Path(path))
        # Instances ask for the tool limits once; fresh ones see the new config's.
        self._sandbox.recycle()
        return result

    def reload_auth_from_env(
        self, prefix: str = "PRX_EMAIL", *, account_id: int | None = None
    ) -> EnvReload:
        """Apply ``{prefix}_{IMAP,SMTP}_OAUTH_TOKEN``/``…_EXPIRES_AT`` to the next connection.

        :raises InvalidArgument: a bad prefix or expiry value (nothing is changed then).
        :raises ConfigError: the plugin was opened with a custom credential provider.
        """
        from .auth import CredentialManager, reload_auth_from_env

        manager = _resolve_credentials(self.context)
        if not isinstance(manager, CredentialManager):
            raise ConfigError(
                "this plugin's credential provider does not take tokens from the environment",
                hint="open the plugin without a custom credential provider",
            )
        result = reload_auth_from_env(prefix, account_id=account_id, manager=manager)
        # Sessions kept by the mailbox actions logged in with the old credentials.
        pool = self.context.imap_sessions
        if pool is not None:
            pool.invalidate()  # type: ignore[attr-defined]
        return result

    def events(
        self,
        *,
        after: int = 0,
        types: Sequence[str] = (),
        account_id: int | None = None,
        consumer: str | None = None,
    ) -> AsyncIterator[Event]:
        """Every stored event after ``after``, then each new one as it is committed (forever).

        ``consumer``: a named consumer; it resumes after its stored cursor (``after`` is
        where a new one starts) and each event is acknowledged when the next is asked for,
        so delivery is at-least-once across restarts::

            async for event in plugin.events(consumer="triage"):
                handle(event.to_json())

        :raises InvalidArgument: a bad cursor, type or consumer name (on first iteration).
        """
        from .services.events import follow  # lazy: most embedders never follow events

        return follow(
            self.context, after=after, types=types, account_id=account_id, consumer=consumer
        )

    def close(self) -> None:
        """Release the instances, the service loop and the store (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._sandbox.close()
        for resource in reversed(self._owned):
            resource.close()

    def __enter__(self) -> Plugin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Plugin:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.close)  # joins the service loop thread


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Built once: json.dumps with options builds an encoder per call.
_ARGS_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _args_json(args: object) -> str | Envelope:
    """``args`` as JSON text for the guest, or the ``EMAIL_INVALID_JSON`` envelope."""
    if args is None:
        return "{}"
    if isinstance(args, str):
        text = args
    elif isinstance(args, dict):
        try:
            text = _ARGS_ENCODER.encode(args)
        except (TypeError, ValueError, RecursionError) as exc:
            return envelope.error(INVALID_JSON, f"args cannot be encoded as JSON: {exc}")
    else:
        return envelope.error(
            INVALID_JSON,
            f"args must be a dict, a JSON string or None, got {type(args).__name__}",
        )
    if not _encodable(text):
        return envelope.error(
            INVALID_JSON,
            "args are not valid Unicode (a lone surrogate, e.g. from undecodable bytes)",
            "Decode the input as UTF-8 and pass valid text.",
        )
    return text


def _parse(raw: str) -> Envelope:
    # orjson reads a listing's envelope 2-4x faster than json (it is parsed on every call).
    # Where they differ — an escaped lone surrogate, which orjson refuses — json decides;
    # integers past 64 bits would come back as floats, and the guest writes none (its
    # integers are WIT s64/u64 values).
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        return envelope.error(
            ErrorCode.INTERNAL.envelope, "the plugin returned a malformed envelope"
        )
    return answer


def _resolve_credentials(context: ServiceContext) -> object:
    """The context's real provider (a deferred one is created now and put in its place)."""
    creds = context.credentials
    if isinstance(creds, DeferredCredentials):
        context.credentials = creds = creds.resolve()
    return creds


def _outbox_account(services: HostServices, outbox_id: int) -> int | None:
    """The account of an outbox row, for the mode policy (None: unknown → all accounts)."""
    lookup = getattr(services, "outbox_account", None)  # custom services may lack it
    return lookup(outbox_id) if callable(lookup) else None


def load_config(config: Config | PathArg | None) -> Config:
    """A ``Config`` as given, else loaded from ``config`` / ``PRX_EMAIL_CONFIG`` / the default.

    A missing default config file means the local account only; a missing explicit one is
    an error. See :func:`prx_email.config.load_config`.

    :raises ConfigError: the file is missing (when named) or invalid.
    """
    return config_resolve.load_config(config)


def open_plugin(
    db: Database | PathArg | None = None,
    config: Config | PathArg | None = None,
    *,
    component: PathArg | None = None,
    memory_limit: int = 256 * MiB,
    deadline: float = 5.0,
    pool_size: int = 2,
    services: HostServices | None = None,
    mode: PolicyMode | str | None = None,
    entry_point: str = "api",
) -> Plugin:
    """Open the sandboxed plugin over a store and a config.

    ``db``: a ``Database``, a path, or ``None`` (``PRX_EMAIL_DB``, else the per-user store).
    ``config``: a ``Config``, a TOML path, or ``None`` (``PRX_EMAIL_CONFIG``, else the
    per-user file; no file there: the local account only). ``component``: the ``.wasm`` to run
    (default: ``PRX_EMAIL_COMPONENT``, else the one shipped in the package).
    ``memory_limit`` (bytes) and ``deadline`` (seconds of guest compute) apply per call.
    ``services`` replaces the real services (tests, custom hosts).
    ``mode`` (``"send"``, ``"draft_only"``, ``"read_only"``) is the process's mode policy,
    enforced by the host functions; default: ``PRX_EMAIL_MODE``, else ``send``. Each
    account's ``[accounts.policy] mode`` applies too; the stricter one wins.
    ``entry_point`` (``api``, ``cli``, ``mcp``, ``ta``, ``console``) is what the audit log
    records as the origin of each mutation (``services.audit``).

    :raises InvalidArgument: an unknown ``entry_point``.
    :raises ConfigError: missing component or config, or a component that cannot be linked.
    :raises StorageError: the store cannot be opened.
    """
    check_entry_point(entry_point)
    limits = Limits(memory_bytes=memory_limit, deadline_seconds=deadline, pool_size=pool_size)
    fixed_mode = parse_mode(mode, "mode") if isinstance(mode, str) else mode
    wasm = locate_component(component)
    cfg = load_config(config)
    owned: list[Any] = []
    try:
        if isinstance(db, Database):
            database = db
        else:
            database = Database(resolve_db_path(db))
            owned.append(database)
        ctx = ServiceContext(config=cfg, db=database, credentials=DeferredCredentials())
        if services is None:
            from .services.facade import Services

            facade = Services(ctx)
            owned.append(facade)
            services = facade
        engine = shared_engine()
        loaded = load_component(engine, Path(wasm))
        host = services
        auditor = Auditor(database, entry_point)
        policy = Policy(
            config=lambda: ctx.config,
            mode=fixed_mode,
            outbox_account=lambda outbox_id: _outbox_account(host, outbox_id),
        )
        sandbox = Sandbox(
            engine,
            loaded.component,
            lambda linker: define_host(
                linker,
                host,
                on_enter=pause_guest_clock,
                on_leave=resume_guest_clock,
                policy=policy,
                audit=auditor.host_call,
            ),
            limits,
        )
    except BaseException:
        for resource in reversed(owned):
            resource.close()
        raise
    plugin = Plugin(sandbox, ctx, services, component_source=loaded.source, owned=owned)
    plugin.auditor = auditor
    return plugin
