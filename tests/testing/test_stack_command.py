"""`linker stack` serves the dev tenant and linker to a suite in another process that knows
nothing of linker's Python: it reads the printed JSON, then plays an application and its
user with plain HTTP requests (as a Node, Java or Go suite would), through sign-in, a link
to a user it added, and the tenant's admin routes."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

pytestmark = pytest.mark.e2e

CALLBACK = "http://localhost:9/my-app/callback"
SECRET = "my-app-secret-0123456789-0123456789"
INPUT = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')
FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>((?:(?!</form>).)*)</form>', re.S)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    config = tmp_path_factory.mktemp("stack") / "stack.json"
    config.write_text(
        json.dumps(
            {"clients": [{"client_id": "my-app", "secret": SECRET, "callbacks": [CALLBACK]}]}
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "linker", "stack", "--json", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=config.parent,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.communicate(timeout=30)[1]
        yield json.loads(line)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def follow(http: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Follow redirects until the application's callback (which nothing serves)."""
    while response.is_redirect:
        location = urljoin(str(response.url), response.headers["location"])
        if location.startswith(CALLBACK):
            return response
        response = http.get(location)
    return response


def post_form(http: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
    """Submit the page's form whose hidden inputs include `fields`."""
    for action, body in FORM.findall(page.text):
        inputs = {name: html.unescape(value) for name, value in INPUT.findall(body)}
        if all(inputs.get(k) == v for k, v in fields.items()):
            target = urljoin(str(page.url), html.unescape(action))
            return follow(http, http.post(target, data=inputs))
    raise AssertionError(f"no form with {fields} on {page.url}")


def redeem(http: httpx.Client, tenant: str, response: httpx.Response) -> dict[str, Any]:
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "code" in query, query
    tokens = http.post(
        f"{tenant}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "my-app",
            "client_secret": SECRET,
            "code": query["code"][0],
            "redirect_uri": CALLBACK,
        },
    ).json()
    payload = tokens["id_token"].split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return {"id_token": tokens["id_token"], "claims": claims}


def test_the_printed_json_names_the_stack_and_your_client(served: dict[str, Any]) -> None:
    assert served["clients"] == [
        {"client_id": "my-app", "client_secret": SECRET, "callback": CALLBACK}
    ]
    assert served["tenant_url"].startswith("http://localhost:")
    assert served["linker_url"].startswith("http://127.0.0.1:")
    assert served["issuer"] == served["tenant_url"] + "/"
    discovery = httpx.get(f"{served['tenant_url']}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == served["issuer"]


def test_a_plain_http_client_signs_in_and_links(served: dict[str, Any]) -> None:
    tenant = served["tenant_url"]
    assert httpx.post(f"{served['admin_url']}/reset").status_code == 200
    github = httpx.post(
        f"{served['admin_url']}/users",
        json={
            "connection": "github",
            "user_id": "a-77",
            "email": "alice@example.com",
            "email_verified": True,
        },
    )
    assert github.json() == {"user_id": "github|a-77"}
    common = {"client_id": "my-app", "response_type": "code", "redirect_uri": CALLBACK}
    with httpx.Client(timeout=20) as http:
        login = follow(
            http,
            http.get(
                f"{tenant}/authorize",
                params={
                    **common,
                    "scope": "openid email",
                    "state": "s1",
                    "nonce": "n1",
                    "connection": "google-oauth2",
                },
            ),
        )
        signed_in = redeem(http, tenant, post_form(http, login, user_id="google-oauth2|alice"))
        assert signed_in["claims"]["sub"] == "google-oauth2|alice"

        nested_login = follow(
            http,
            http.get(
                f"{tenant}/authorize",
                params={
                    **common,
                    "scope": "openid link_account",
                    "state": "s2",
                    "nonce": "n2",
                    "requested_connection": "github",
                    "id_token_hint": signed_in["id_token"],
                },
            ),
        )
        assert "Sign in with github" in nested_login.text  # linker's nested login
        back_at_linker = post_form(http, nested_login, user_id="github|a-77")
        assert str(back_at_linker.url).startswith(served["linker_url"] + "/link/callback")
        # linker shows the account before it is joined: press Link, then its auto-POST.
        resume = post_form(http, back_at_linker, choice="link")
        back_at_app = post_form(http, resume)  # linker's auto-POST to /continue
        linked = redeem(http, tenant, back_at_app)
    assert linked["claims"]["https://linker/link_result"]["status"] == "linked"
    alice = httpx.get(f"{served['admin_url']}/users/google-oauth2|alice").json()
    assert [i["user_id"] for i in alice["identities"]] == ["alice", "a-77"]
    assert httpx.post(f"{served['admin_url']}/reset").status_code == 200
    alice = httpx.get(f"{served['admin_url']}/users/google-oauth2|alice").json()
    assert [i["user_id"] for i in alice["identities"]] == ["alice"]
    assert httpx.get(f"{served['admin_url']}/users/github|a-77").status_code == 404


def test_a_bad_config_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "stack.json"
    bad.write_text('{"clients": [{"client_id": "web"}]}')
    done = subprocess.run(
        [sys.executable, "-m", "linker", "stack", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"linker stack: {bad}: clients[web].secret: a regular_web client needs a secret"
    ]
