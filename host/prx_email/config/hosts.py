"""Host names the config and the servers we bind or reach are judged by."""

from __future__ import annotations

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (IPv4 or IPv6, brackets allowed)."""
    if host == "localhost":
        return True
    import ipaddress  # only when a host is judged (not on every config import)

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
