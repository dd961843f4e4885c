"""The crypto bound: the CPU the cryptography of one link flow costs, with linker's libraries.

A flow needs an HS256 verify of the start token, two RS256 verifies (the `id_token_hint` and
the nested login's ID token), an HS256 sign of the result token, an HS256 verify of the commit
token, and an itsdangerous sign and verify of the transaction cookie. Measured in-process
with joserfc and itsdangerous, as linker calls them, on tokens of a real flow's size; keys are
imported once (the floor, not what linker happens to do today).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import TimestampSigner
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from benchmarks.http import seed


@dataclass(frozen=True)
class CryptoBound:
    """CPU microseconds per operation, and their sum per flow."""

    per_op_us: dict[str, float]

    @property
    def per_flow_ms(self) -> float:
        return sum(self.per_op_us.values()) / 1000


def _cpu_us(operation: Callable[[], object], rounds: int) -> float:
    operation()  # the first call may import or build caches
    began = time.process_time_ns()
    for _ in range(rounds):
        operation()
    return (time.process_time_ns() - began) / rounds / 1000


def measure(rounds: int = 200) -> CryptoBound:
    secret = secrets.token_urlsafe(32)
    oct_key = OctKey.import_key(secret)
    rsa_key = RSAKey.generate_key(2048, parameters={"kid": "bench-1", "use": "sig"})
    keys = KeySet([RSAKey.import_key(rsa_key.as_dict(private=False))])
    now = int(time.time())
    id_claims = {
        "iss": "https://tenant.example/",
        "aud": seed.LINKER_CLIENT_ID,
        "sub": seed.secondary_id(1),
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "nonce": secrets.token_urlsafe(32),
        "email": seed.email(1),
        "email_verified": True,
    }
    id_token = jwt.encode({"alg": "RS256", "kid": "bench-1"}, id_claims, rsa_key)
    start_claims: dict[str, Any] = {
        "sub": seed.primary_id(1),
        "iss": "tenant.example",
        "iat": now,
        "exp": now + 300,
        "ip": "127.0.0.1",
        "linker_v": 2,
        "jti": secrets.token_urlsafe(16),
        "action": "link",
        "client_id": seed.APP_CLIENT_ID,
        "requested_connection": seed.SECONDARY_CONNECTION,
        "id_token_hint": id_token,
        "user": {"email": seed.email(1), "email_verified": True, "identities": []},
        "authentication_methods": ["pwd"],
        "enrolled_factors": [],
    }
    start_token = jwt.encode({"alg": "HS256", "typ": "JWT"}, start_claims, oct_key)
    result_claims = {
        "iss": "https://linker.example",
        "sub": seed.primary_id(1),
        "state": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
        "linker_v": 2,
        "commit": secrets.token_urlsafe(32),
        "result": {"status": "pending", "error": None, "error_description": None},
    }
    commit_claims = {
        "aud": "linker:commit",
        "sub": seed.primary_id(1),
        "commit": secrets.token_urlsafe(32),
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
        "linker_v": 2,
        "user": {"identities": [], "user_metadata": {"theme": "dark"}, "app_metadata": {}},
    }
    commit_token = jwt.encode({"alg": "HS256", "typ": "JWT"}, commit_claims, oct_key)
    cookies = TimestampSigner([secret], salt="linker.txn-cookie")
    txn_id = secrets.token_urlsafe(32)

    def rs256_verify() -> object:
        return jwt.decode(id_token, keys, algorithms=["RS256"])

    def cookie_sign_verify() -> object:
        return cookies.unsign(cookies.sign(txn_id), max_age=600)

    operations: dict[str, Callable[[], object]] = {
        "HS256 verify (start token)": lambda: jwt.decode(start_token, oct_key, ["HS256"]),
        "RS256 verify (id_token_hint)": rs256_verify,
        "RS256 verify (nested ID token)": rs256_verify,
        "HS256 sign (result token)": lambda: jwt.encode({"alg": "HS256"}, result_claims, oct_key),
        "HS256 verify (commit token)": lambda: jwt.decode(commit_token, oct_key, ["HS256"]),
        "cookie sign + verify (itsdangerous)": cookie_sign_verify,
    }
    measured: dict[Callable[[], object], float] = {}
    per_op: dict[str, float] = {}
    for name, operation in operations.items():
        if operation not in measured:  # both RS256 verifies are the same operation
            measured[operation] = _cpu_us(operation, rounds)
        per_op[name] = measured[operation]
    return CryptoBound(per_op)
