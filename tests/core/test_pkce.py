"""linker.core.pkce: RFC 7636 S256 and the random values of an authorization request."""

from __future__ import annotations

import re

from linker.core.pkce import random_token, s256_challenge


def test_the_rfc_7636_appendix_b_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636, Appendix B
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_random_tokens_are_long_enough_to_be_verifiers_and_never_repeat() -> None:
    tokens = {random_token() for _ in range(1000)}
    assert len(tokens) == 1000
    # RFC 7636 §4.1: 43 to 128 characters of the unreserved set.
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43,128}", t) for t in tokens)
