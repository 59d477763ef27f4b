"""The network gate: only the host's own environment can let the plugin reach the network.

The flag is read from ``os.environ`` at every gated call, so an operator can flip it for
a running host; nothing that crosses the WIT boundary is consulted. Gated operations:
``sync``, ``send``, ``reply``, ``retry``, ``search`` with ``remote`` set, the four
``draft-*`` functions, and every mailbox action that changes the server (``folder-create``/
``-rename``/``-delete``, ``mark``, ``label``, ``move``, ``archive``, ``delete``). ``folders``
answers from the local store and ``attachment`` only from kept bytes when the flag is off.
The mode policy (``policy``) is checked before this gate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import NetworkDisabled

NETWORK_ENV = "PRX_EMAIL_ENABLE_REAL_NETWORK"
_TRUE = frozenset({"1", "true", "yes", "on"})


def network_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``PRX_EMAIL_ENABLE_REAL_NETWORK`` is 1/true/yes/on (any case)."""
    env = os.environ if environ is None else environ
    return env.get(NETWORK_ENV, "").strip().lower() in _TRUE


def require_network(operation: str, environ: Mapping[str, str] | None = None) -> None:
    """:raises NetworkDisabled: the flag is off; ``operation`` names what was refused."""
    if not network_enabled(environ):
        raise NetworkDisabled(
            f"{operation} needs the network, which is disabled",
            hint=f"set {NETWORK_ENV}=1 in the host's environment to allow real network access",
        )
