"""link_required_handler: the 401 an agent API on Starlette answers with."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linker.client import (
    LinkRequired,
    LinkSettings,
    StepUpRequired,
    link_required_handler,
    www_authenticate,
)


def agent_app(error: LinkRequired) -> Starlette:
    async def calendar(request: Request) -> Response:
        raise error

    return Starlette(
        routes=[Route("/calendar", calendar)],
        exception_handlers={LinkRequired: link_required_handler},
    )


async def get(app: Starlette, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
        return await client.get(path)


async def test_link_required_becomes_a_401_with_the_connection_and_scopes() -> None:
    response = await get(agent_app(LinkRequired("github", ["repo", "read:user"])), "/calendar")

    assert response.status_code == 401
    assert response.json() == {
        "error": "link_required",
        "connection": "github",
        "scopes": ["repo", "read:user"],
        "via": "link",
    }
    assert response.headers["www-authenticate"] == (
        'Bearer error="link_required", connection="github", scope="repo read:user"'
    )
    assert response.headers["cache-control"] == "no-store"


async def test_a_link_url_is_included_when_the_app_built_one() -> None:
    settings = LinkSettings(
        domain="tenant.example.com", client_id="app", redirect_uri="https://app.example/cb"
    )
    error = LinkRequired("google-oauth2", "calendar").with_link(settings, "id-token")
    assert error.link_url is not None

    response = await get(agent_app(error), "/calendar")

    assert response.status_code == 401
    assert response.json() == {
        "error": "link_required",
        "connection": "google-oauth2",
        "scopes": ["calendar"],
        "via": "link",
        "link_url": error.link_url,
    }


def test_header_without_scopes_omits_the_scope_parameter() -> None:
    assert www_authenticate(LinkRequired("github")) == (
        'Bearer error="link_required", connection="github"'
    )


def test_header_values_are_quote_escaped_and_cannot_split_the_header() -> None:
    header = www_authenticate(LinkRequired('gi"t\\hub\r\nSet-Cookie: x=1', ["ünï"]))
    assert header == (
        'Bearer error="link_required", connection="gi\\"t\\\\hub%0D%0ASet-Cookie: x=1", '
        'scope="%C3%BCn%C3%AF"'
    )
    header.encode("ascii")


async def test_the_handler_refuses_other_exceptions() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    with pytest.raises(KeyError):
        await link_required_handler(request, KeyError("other"))


def test_header_says_connect_when_that_is_the_way() -> None:
    error = LinkRequired("slack", ["chat:write"], via="connect")
    assert www_authenticate(error) == (
        'Bearer error="link_required", connection="slack", scope="chat:write", via="connect"'
    )


async def test_the_way_and_why_are_in_the_body() -> None:
    error = LinkRequired("slack", ["chat:write"], via="connect", why="the tenant accepted it")
    response = await get(agent_app(error), "/calendar")
    assert response.json()["why"] == "the tenant accepted it"
    assert response.json()["via"] == "connect"


@pytest.mark.parametrize("ask_for", ["second_factor", "sign_in"])
async def test_step_up_required_is_a_401_saying_what_to_ask(ask_for: str) -> None:
    async def calendar(request: Request) -> Response:
        raise StepUpRequired("mfa_required", "2FA within 15 minutes", ask_for=ask_for)  # type: ignore[arg-type]

    app = Starlette(
        routes=[Route("/calendar", calendar)],
        exception_handlers={StepUpRequired: link_required_handler},
    )
    response = await get(app, "/calendar")
    assert response.status_code == 401
    body = response.json()
    assert (body["error"], body["ask_for"]) == ("step_up_required", ask_for)
    assert body["message"].startswith("To connect an account, sign in again")
    assert body["authorize_params"]["prompt"] == "login"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_user_authentication"')
    assert ("acr_values=" in challenge) == (ask_for == "second_factor")
    assert response.headers["cache-control"] == "no-store"
