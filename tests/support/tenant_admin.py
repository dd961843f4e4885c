"""What an administrator does to the dev tenant behind linker's back, through the Management
API with the seeded `linker` client's credentials, as another tab or a support desk would."""

from __future__ import annotations

import httpx

from linker.testing.stack import Stack

SEEDED_CLIENT = ("linker", "linker-secret-change-me-0123456789")


def link_as_administrator(stack: Stack, primary: str, provider: str, user_id: str) -> None:
    """`POST /api/v2/users/{primary}/identities`: `provider|user_id` joins `primary`."""
    client_id, secret = SEEDED_CLIENT
    token = httpx.post(
        f"{stack.tenant_url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "audience": f"{stack.tenant_url}/api/v2/",
        },
    ).json()["access_token"]
    httpx.post(
        f"{stack.tenant_url}/api/v2/users/{primary}/identities",
        json={"provider": provider, "user_id": user_id},
        headers={"authorization": f"Bearer {token}"},
    ).raise_for_status()
