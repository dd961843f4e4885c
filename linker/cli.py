"""`linker serve | check | dev-tenant | demo`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import httpx

from linker import oidc
from linker.errors import LinkError
from linker.observability import RedactQueryFilter
from linker.settings import Settings, SettingsError


def _load_settings() -> Settings | None:
    try:
        return Settings.from_env(Settings.environment())
    except SettingsError as error:
        print(f"linker: bad setting {error}", file=sys.stderr)
        return None


def serve(argv: Sequence[str]) -> int:
    """Run the service with uvicorn; settings come from the environment and `.env`."""
    parser = argparse.ArgumentParser(prog="linker serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    settings = _load_settings()
    if settings is None:
        return 2
    import uvicorn

    from linker.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(message)s")
    # The start URL carries the session token; uvicorn would log it whole.
    logging.getLogger("uvicorn.access").addFilter(RedactQueryFilter())
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        # X-Forwarded-For is believed only from the proxies named in the settings.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(sorted(settings.trusted_proxies)) or None,
        server_header=False,
    )
    return 0


async def _check_tenant(settings: Settings) -> list[str]:
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=5.0) as http:
        try:
            discovery = await http.get(f"{settings.tenant_url}/.well-known/openid-configuration")
            config = discovery.json() if discovery.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            return [f"tenant: discovery at {settings.tenant_url} failed ({type(exc).__name__})"]
        token_endpoint = config.get("token_endpoint") if isinstance(config, dict) else None
        if not isinstance(token_endpoint, str):
            return [f"tenant: no OpenID configuration at {settings.tenant_url}"]
        wrong_issuer = oidc.issuer_problem(config, settings.issuer)
        if wrong_issuer is not None:
            return [f"LINKER_AUTH0_DOMAIN / LINKER_TENANT_SCHEME: {wrong_issuer}"]
        try:
            method = oidc.token_auth_method(config)
        except LinkError as error:
            return [f"tenant: {error.description}"]
        fields, headers = oidc.client_auth(
            method, settings.client_id, settings.client_secret.reveal()
        )
        form = {
            "grant_type": "client_credentials",
            "audience": f"{settings.tenant_url}/api/v2/",
            **fields,
        }
        try:
            answer = await http.post(token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            return [f"tenant: token endpoint unreachable ({type(exc).__name__})"]
        if answer.status_code != 200:
            problems.append(
                "LINKER_CLIENT_ID / LINKER_CLIENT_SECRET: client credentials for the Management "
                f"API were refused (HTTP {answer.status_code})"
            )
    return problems


def check(argv: Sequence[str]) -> int:
    """Validate settings, then that the tenant answers discovery and client credentials."""
    argparse.ArgumentParser(prog="linker check").parse_args(argv)
    env = Settings.environment()
    bad = Settings.problems(env)
    for problem in bad:
        print(problem)
    if bad:
        return 2
    settings = Settings.from_env(env)
    problems = asyncio.run(_check_tenant(settings))
    for line in problems:
        print(line)
    if not problems:
        print(f"ok: settings valid, tenant {settings.auth0_domain} answers")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = ("serve", "check", "dev-tenant", "demo")
    if not args or args[0] not in commands:
        print(f"usage: linker {{{','.join(commands)}}} [options]", file=sys.stderr)
        return 2
    command, rest = args[0], args[1:]
    if command == "serve":
        return serve(rest)
    if command == "check":
        return check(rest)
    if command == "dev-tenant":
        from linker.devtenant.cli import main as dev_tenant

        return dev_tenant(rest)
    from linker.demo.cli import main as demo

    return demo(rest)


if __name__ == "__main__":
    raise SystemExit(main())
