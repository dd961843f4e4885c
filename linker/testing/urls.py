"""Reading the URLs a flow redirects to."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def query_of(url: str) -> dict[str, str]:
    """The query parameters of `url` (a redirect's `Location`, say), name to value.

    Empty values are kept, and a malformed query or a parameter given twice fails the test:
    OAuth allows each parameter once (RFC 6749, section 3.1).
    """
    return params_of(urlsplit(url).query)


def params_of(encoded: str) -> dict[str, str]:
    """`application/x-www-form-urlencoded` text (a query, a token request's body), read as
    strictly as `query_of` reads a URL's query."""
    parsed = parse_qs(encoded, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in parsed.values()), parsed
    return {name: values[0] for name, values in parsed.items()}
