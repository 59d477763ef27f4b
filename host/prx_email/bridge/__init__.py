"""The WIT boundary on the host side: host functions, value conversion, network gate."""

from .gate import NETWORK_ENV, network_enabled, require_network
from .hostfns import HOST_INSTANCE, HostServices, define_host

__all__ = [
    "HOST_INSTANCE",
    "NETWORK_ENV",
    "HostServices",
    "define_host",
    "network_enabled",
    "require_network",
]
