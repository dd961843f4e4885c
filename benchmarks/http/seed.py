"""What the tenant, the load generator and the runner agree on: clients and users.

Flow `n` links the secondary `github|bench-s{n}` into the primary `auth0|bench-p{n}`, so every
flow of a run links a pair of its own and no two flows touch the same user.
"""

from __future__ import annotations

LINKER_CLIENT_ID = "bench-linker"
LINKER_CLIENT_SECRET = "bench-linker-client-secret"  # noqa: S105 (a loopback-only fake)
APP_CLIENT_ID = "bench-app"
PRIMARY_PROVIDER = "auth0"
PRIMARY_CONNECTION = "Username-Password-Authentication"
SECONDARY_PROVIDER = SECONDARY_CONNECTION = "github"
# The load generator's login page: which seeded secondary "signs in" at the nested /authorize.
LOGIN_AS_PARAM = "bench_login_as"


PRIMARY_PREFIX = f"{PRIMARY_PROVIDER}|bench-p"
SECONDARY_PREFIX = f"{SECONDARY_PROVIDER}|bench-s"


def primary_id(n: int) -> str:
    return f"{PRIMARY_PREFIX}{n}"


def secondary_id(n: int) -> str:
    return f"{SECONDARY_PREFIX}{n}"


def email(n: int) -> str:
    return f"user{n}@bench.test"
