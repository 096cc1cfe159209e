"""``HOST:PORT`` for the metrics endpoint, parsed without importing prometheus_client
(the policy parser checks ``metrics:`` with it)."""

from __future__ import annotations

DEFAULT_PORT = 9464


class MetricsError(Exception):
    """The endpoint cannot be set up (bad address, port taken): one line for the user."""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` (all interfaces) or ``PORT`` (loopback)."""
    text = text.strip()
    if text.isdigit():
        host, port = "127.0.0.1", text
    elif text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise MetricsError(f"metrics address {text!r}: write an IPv6 address as [ADDR]:PORT")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise MetricsError(f"metrics address {text!r}: expected HOST:PORT (e.g. 127.0.0.1:{DEFAULT_PORT})")
        host = host or "0.0.0.0"
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise MetricsError(f"metrics address {text!r}: port must be a number from 0 (any free port) to 65535")
    return host, int(port)
