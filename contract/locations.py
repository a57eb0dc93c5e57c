"""URL schemes of the two planes: one rule for plain and TLS, used by servers and clients."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
"""Addresses a server binds to but no client can dial."""


def http_scheme(tls: bool) -> str:
    """``https`` with TLS, else ``http``."""
    return "https" if tls else "http"


def flight_scheme(tls: bool) -> str:
    """``grpc+tls`` with TLS, else ``grpc``."""
    return "grpc+tls" if tls else "grpc"


def http_url(host: str, port: int, *, tls: bool) -> str:
    """Control-plane base URL."""
    return f"{http_scheme(tls)}://{host}:{port}"


def flight_url(host: str, port: int, *, tls: bool) -> str:
    """Data-plane location."""
    return f"{flight_scheme(tls)}://{host}:{port}"


def flight_url_beside(server_url: str, port: int) -> str:
    """The Flight location on the host of a control-plane URL (TLS when it is https)."""
    parts = urlsplit(server_url)
    return flight_url(parts.hostname or "127.0.0.1", port, tls=parts.scheme == "https")


def host_of(location: str) -> str:
    """The host of a URL or Flight location (brackets of an IPv6 literal removed)."""
    return urlsplit(location).hostname or ""


def is_wildcard(location: str) -> bool:
    """True when the location's host is a wildcard bind address (0.0.0.0, ::)."""
    return host_of(location) in WILDCARD_HOSTS


def with_host(location: str, host: str) -> str:
    """``location`` with its host replaced by ``host`` (the port kept)."""
    parts = urlsplit(location)
    literal = f"[{host}]" if ":" in host else host
    netloc = f"{literal}:{parts.port}" if parts.port is not None else literal
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
