"""Whether two URLs share an origin (RFC 6454: scheme, host and port, the default port
filled in): a browser's `Origin` against linker's own, an endpoint against the tenant's."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def same_origin(url: str, other: str) -> bool:
    """True when `url` and `other` name one origin; a URL no parser reads (`https://[`, a port
    that is no number) shares none."""
    try:
        return _origin(url) == _origin(other)
    except ValueError:
        return False


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)
