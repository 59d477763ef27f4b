"""One TA request answered on the sandboxed plugin (in this process, or in the warm helper)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ...errors import EmailError
from ._protocol import ProtocolError, failure, parse_line

if TYPE_CHECKING:
    from ...api import Plugin

__all__ = ["serve"]

log = logging.getLogger("prx_email.ta")


def _error_text(exc: EmailError) -> str:
    hint = exc.hint or exc.code.default_hint
    return f"{exc.code.envelope}: {exc.message} (hint: {hint})"


def serve(
    data: bytes, db: str | None, config: str | None, plugin: Plugin | None = None
) -> dict[str, Any]:
    """The response to one request (never raises for a bad request or a failed op).

    ``plugin``: an open one to run it on (the warm helper's), else one is opened for it.
    """
    try:
        request = parse_line(data)
        from ._ops import OPERATIONS

        op = OPERATIONS[request.op]
        if plugin is not None:
            return op(plugin, plugin.context.config, request.params)
        from ...api import open_plugin

        # Always draft-only: whatever the config says, nothing this process runs can send.
        with open_plugin(db=db, config=config, mode="draft_only", entry_point="ta") as opened:
            return op(opened, opened.context.config, request.params)
    except ProtocolError as exc:
        return failure(str(exc))
    except EmailError as exc:
        return failure(_error_text(exc))
    except Exception:
        log.exception("the TA adapter failed")
        return failure("internal error in the plugin (details on its stderr)")
