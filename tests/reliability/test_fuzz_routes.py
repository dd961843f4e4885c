"""Property-based fuzzing of every route: whatever arrives, the answer is a contract code,
never a 5xx and never a traceback. Tokens are fuzzed both as text and validly signed with
hostile claims (NaN and infinite times, wrong types, deep nesting), since a signature is no
promise about shape. `make fuzz` runs it at 100,000 requests and prints the count."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import RSAKey

from linker.app import create_app
from linker.tenant.upstream import Retrier
from linker.testing import FakeClock
from linker.web.cookies import cookie_name
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import (
    PRIMARY,
    SECONDARY,
    Harness,
    hs256,
    make_settings,
    signed_raw,
)
from tests.support.httpx_upstream import HttpxUpstream

EXAMPLES = int(os.environ.get("LINKER_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize="LINKER_FUZZ_EXAMPLES" not in os.environ,
)
SENT: list[int] = []

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
text = st.text(max_size=64) | st.sampled_from(["", "NaN", "a|b", "%00", "\u212a", "<script>"])


class Service:
    """One app, its fake tenant and a browser, on one event loop reused by every example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        key = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig"})
        self.tenant = FakeTenant(key=key, clock=self.clock)
        self.tenant.add_user(PRIMARY, email="alice@example.com")
        self.tenant.add_user(SECONDARY, email="alice@example.com")
        self.settings = make_settings()
        upstream = httpx.AsyncClient(transport=self.tenant.transport())
        self.app = create_app(
            self.settings,
            http=HttpxUpstream(upstream),
            clock=self.clock,
            retrier=Retrier(clock=self.clock, sleep=self.clock.sleep),
        )
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.loop.run_until_complete(self.lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url=self.settings.public_url)
        self.harness = Harness(
            tenant=self.tenant,
            clock=self.clock,
            client=self.client,
            settings=self.settings,
            app=self.app,
        )

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    running = Service()
    yield running
    running.close()
    print(f"\nfuzz: {sum(SENT)} requests, 0 answered 5xx")


def assert_contract(response: httpx.Response) -> None:
    SENT.append(1)
    assert response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text


def start_claims(service: Service, overrides: dict[str, Any]) -> dict[str, Any]:
    claims = service.harness.start_claims()
    claims.update(overrides)
    return claims


@FUZZ
@given(token=text, state=text, extra=st.dictionaries(st.text(max_size=10), text, max_size=3))
def test_start_with_any_text(
    service: Service, token: str, state: str, extra: dict[str, str]
) -> None:
    params = {**extra, "session_token": token, "state": state}
    assert_contract(service.run(service.client.get("/link/start", params=params)))


CLAIM_NAMES = st.sampled_from(
    [
        "sub",
        "iss",
        "iat",
        "exp",
        "nbf",
        "jti",
        "linker_v",
        "action",
        "client_id",
        "user",
        "requested_connection",
        "requested_connection_scope",
        "requested_identity",
        "id_token_hint",
        "authentication_methods",
        "enrolled_factors",
        "ip",
    ]
)


@FUZZ
@given(overrides=st.dictionaries(CLAIM_NAMES, json_values, max_size=4))
def test_start_with_signed_hostile_claims(service: Service, overrides: dict[str, Any]) -> None:
    token = hs256(start_claims(service, overrides))
    response = service.run(
        service.client.get("/link/start", params={"session_token": token, "state": "s"})
    )
    assert_contract(response)
    service.client.cookies.clear()


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["code", "state", "error", "error_description", "x"]), text, max_size=5
    ),
    cookie=st.none()
    | st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';,"\\'),
        max_size=64,
    ),
)
def test_callback_with_anything(
    service: Service, params: dict[str, str], cookie: str | None
) -> None:
    service.client.cookies.clear()
    if cookie is not None and params.get("state"):
        service.client.cookies.set(cookie_name(params["state"]), cookie, path="/")
    assert_contract(service.run(service.client.get("/link/callback", params=params)))
    service.client.cookies.clear()


@FUZZ
@given(
    claims=st.dictionaries(
        st.sampled_from(["aud", "sub", "commit", "iat", "exp", "nbf", "jti", "linker_v", "user"]),
        json_values,
        max_size=4,
    ),
    body=st.none() | st.binary(max_size=64),
    raw_time=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", '"x"', "[]"]),
)
def test_commit_with_anything(
    service: Service, claims: dict[str, Any], body: bytes | None, raw_time: str
) -> None:
    if body is not None:
        answer = service.run(service.client.post("/link/commit", content=body))
    else:
        base = service.harness.commit_claims("c")
        base.update(claims)
        answer = service.run(
            service.client.post("/link/commit", json={"commit_token": hs256(base)})
        )
        assert_contract(answer)
        raw = json.dumps(service.harness.commit_claims("c", exp="__T__")).replace(
            '"__T__"', raw_time
        )
        answer = service.run(
            service.client.post("/link/commit", json={"commit_token": signed_raw(raw)})
        )
    assert_contract(answer)


@FUZZ
@given(
    path=st.sampled_from(["/healthz", "/readyz", "/metrics", "/link/commit", "/nope"]),
    method=st.sampled_from(["GET", "POST", "PUT"]),
)
def test_every_other_route_and_method(service: Service, path: str, method: str) -> None:
    assert_contract(service.run(service.client.request(method, path)))


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["state", "token", "choice", "x"]) | st.text(max_size=8),
        text | st.sampled_from(["link", "cancel"]),
        max_size=12,
    ),
    raw=st.none() | st.binary(max_size=256),
    origin=st.none() | st.sampled_from(["null", "https://linker.test", "https://evil.example"]),
)
def test_confirm_with_anything(
    service: Service, form: dict[str, str], raw: bytes | None, origin: str | None
) -> None:
    headers = {"origin": origin} if origin else {}
    if raw is not None:
        headers["content-type"] = "application/x-www-form-urlencoded"
        request = service.client.post("/link/confirm", content=raw, headers=headers)
    else:
        request = service.client.post("/link/confirm", data=form, headers=headers)
    assert_contract(service.run(request))
