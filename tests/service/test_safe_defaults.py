"""Safe defaults: nothing a deployment forgets to set opens a hole. Plain http only on this
machine, the applications allowed to link named (or `*` on purpose, which `linker check`
warns about), no IP pin on addresses anyone can forge, and a transaction cookie that a sibling
subdomain cannot plant."""

from __future__ import annotations

from pathlib import Path

import pytest

from linker.settings import Settings, SettingsError
from linker.testing import free_port
from linker.web.cookies import cookie_name
from tests.service.test_settings import run_linker
from tests.support.harness import (
    SECONDARY,
    Harness,
    assert_dead_end,
    nested_state,
    read_resume,
    settings_env,
)


def refused(name: str, **env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(settings_env(**env))
    assert caught.value.name == name
    return caught.value.problem


@pytest.mark.parametrize(
    "url", ["http://linker.example.com", "http://10.0.0.5:8000", "http://linker.localhost.evil"]
)
def test_a_plain_http_public_url_is_refused_off_this_machine(url: str) -> None:
    assert "https" in refused("LINKER_PUBLIC_URL", LINKER_PUBLIC_URL=url)


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000", "http://127.0.0.2:8701", "http://[::1]:8000", "http://a.localhost"],
)
def test_plain_http_on_this_machine_is_allowed(url: str) -> None:
    assert Settings.from_env(settings_env(LINKER_PUBLIC_URL=url)).public_url == url


def test_a_plain_http_tenant_is_refused_off_this_machine() -> None:
    problem = refused("LINKER_TENANT_SCHEME", LINKER_TENANT_SCHEME="http")
    assert "this machine" in problem
    local = settings_env(LINKER_TENANT_SCHEME="http", LINKER_AUTH0_DOMAIN="127.0.0.1:8700")
    assert Settings.from_env(local).tenant_url == "http://127.0.0.1:8700"


@pytest.mark.parametrize("value", ["", " , ", "*,app-client"])
def test_the_allowed_applications_must_be_named(value: str) -> None:
    problem = refused("LINKER_ALLOWED_CLIENT_IDS", LINKER_ALLOWED_CLIENT_IDS=value)
    assert "*" in problem or "no client id" in problem


def test_the_ip_pin_is_refused_with_every_proxy_trusted() -> None:
    problem = refused("LINKER_TRUSTED_PROXIES", LINKER_PIN_IP="true", LINKER_TRUSTED_PROXIES="*")
    assert "X-Forwarded-For" in problem
    Settings.from_env(settings_env(LINKER_PIN_IP="true", LINKER_TRUSTED_PROXIES="10.0.0.0/8"))


def test_serve_refuses_to_start_without_the_allowed_applications(tmp_path: Path) -> None:
    env = settings_env()
    del env["LINKER_ALLOWED_CLIENT_IDS"]
    done = run_linker("serve", env, tmp_path)
    assert done.returncode == 2
    assert "LINKER_ALLOWED_CLIENT_IDS: is required" in done.stderr


def test_check_warns_about_every_application_and_every_proxy(tmp_path: Path) -> None:
    env = settings_env(
        LINKER_ALLOWED_CLIENT_IDS="*",
        LINKER_TRUSTED_PROXIES="*",
        LINKER_TENANT_SCHEME="http",
        LINKER_AUTH0_DOMAIN=f"127.0.0.1:{free_port()}",  # nobody there: the tenant check fails
        LINKER_UPSTREAM_BUDGET="1",
    )
    done = run_linker("check", env, tmp_path)
    assert "warning: LINKER_ALLOWED_CLIENT_IDS is *" in done.stderr
    assert "warning: LINKER_TRUSTED_PROXIES is *" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("env_overrides", [{"LINKER_ALLOWED_CLIENT_IDS": "*"}])
async def test_star_allows_every_application(harness: Harness) -> None:
    hint = harness.hint(aud="someone-elses-app")
    started = await harness.start(client_id="someone-elses-app", id_token_hint=hint)
    assert started.status_code == 302


async def test_a_listed_application_only(harness: Harness) -> None:
    hint = harness.hint(aud="someone-elses-app")
    resumed = read_resume(await harness.start(client_id="someone-elses-app", id_token_hint=hint))
    assert resumed.error == "client_not_allowed"


async def test_the_cookie_is_host_prefixed_over_https(harness: Harness) -> None:
    started = await harness.start()
    line = started.headers["set-cookie"]
    assert line.startswith("__Host-linker_txn_") and "; Path=/;" in line and "Secure" in line
    assert "Domain" not in line


async def test_a_cookie_planted_without_the_prefix_does_not_count(harness: Harness) -> None:
    """A sibling subdomain can set `linker_txn_*` for the parent domain, never `__Host-`."""
    started = await harness.start()
    state = nested_state(started)
    good = cookie_name(state, secure=True)
    value = harness.client.cookies[good]
    harness.client.cookies.clear()
    harness.client.cookies.set(cookie_name(state, secure=False), value, path="/")
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    assert_dead_end(await harness.callback(code=code, state=state), "browser_mismatch")
