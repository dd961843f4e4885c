"""`linker demo`: the dev tenant, the linker service, the sample web app and the single-page
sample, on loopback.

The tenant, linker and the web app each run on their own loopback host name, so their cookies
never mix: a browser keeps cookies per host, not per port. The single-page sample shares
`localhost` with the web app (a browser gives auth0-spa-js its WebCrypto only on a secure
origin, and http://localhost is one); it keeps its tokens in its own origin's storage and
uses no cookie of the web app's. They are wired as a real deployment is: the tenant runs the
Action shim with linker's URL and a shared secret, linker signs in with the tenant's `linker`
client, the web app is the tenant's `demo-app` client and the SPA its public `demo-spa`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import shutil
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp

from linker import Settings, configure_logging, create_app
from linker.demo import app_rows
from linker.demo.config import SampleAppConfig
from linker.demo.sample_app import create_sample_app
from linker.demo.servers import Listener, PortInUse, ServerGroup, bind
from linker.demo.spa_app import API_CLIENT_ID, SpaConfig, create_spa_app
from linker.demo.spa_sdk import SpaSdkUnavailable, default_cache_dir, ensure_spa_sdk
from linker.devtenant import DevTenantConfig, Seed, create_dev_tenant, default_seed

TENANT_HOST, LINKER_HOST, APP_HOST, SPA_HOST = "127.0.0.1", "127.0.0.2", "localhost", "localhost"
TENANT_PORT, LINKER_PORT, APP_PORT, SPA_PORT = 8700, 8701, 8702, 8703
LINKER_CLIENT_ID, APP_CLIENT_ID = "linker", "demo-app"


@dataclass(frozen=True)
class DemoUrls:
    """Where each of the four servers is reached (and listens)."""

    tenant: str
    linker: str
    app: str
    spa: str

    def named(self) -> list[tuple[str, str]]:
        return [
            ("dev tenant", self.tenant),
            ("linker", self.linker),
            ("sample app", self.app),
            ("SPA sample", self.spa),
        ]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="linker demo",
        description="Run the dev tenant, linker, a sample web app and a single-page app on "
        "loopback.",
    )
    parser.add_argument("--tenant-port", type=int, default=TENANT_PORT)
    parser.add_argument("--linker-port", type=int, default=LINKER_PORT)
    parser.add_argument("--app-port", type=int, default=APP_PORT)
    parser.add_argument("--spa-port", type=int, default=SPA_PORT)
    parser.add_argument(
        "--linker-host",
        default=LINKER_HOST,
        help="loopback address for linker (default 127.0.0.2; any address but 127.0.0.1)",
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning"])
    parser.add_argument(
        "--suggest",
        default="off",
        choices=["off", "suggest", "require"],
        help="the Action's LINKER_SUGGEST: offer to link an older account with the same "
        "verified email at sign-in (`make demo` runs with suggest)",
    )
    return parser.parse_args(argv)


def linker_env(urls: DemoUrls, *, client_secret: str, action_secret: str) -> dict[str, str]:
    """linker's settings for the demo: the dev tenant over http, and its `linker` client."""
    return {
        "LINKER_AUTH0_DOMAIN": urlsplit(urls.tenant).netloc,
        "LINKER_TENANT_SCHEME": "http",
        "LINKER_CLIENT_ID": LINKER_CLIENT_ID,
        "LINKER_CLIENT_SECRET": client_secret,
        "LINKER_ACTION_SECRETS": action_secret,
        "LINKER_PUBLIC_URL": urls.linker,
        # The sample app and the SPA ask for links; the tenant's other clients may not.
        "LINKER_ALLOWED_CLIENT_IDS": "demo-app,demo-spa",
    }


def build_apps(urls: DemoUrls, *, suggest: str = "off") -> list[ASGIApp]:
    """The dev tenant, linker, the sample app and the SPA, wired to each other (in that order).
    Installs auth0-spa-js into the cache first if needed (`SpaSdkUnavailable` without npm).
    `suggest` is the Action's `LINKER_SUGGEST` (suggested linking at sign-in)."""
    sdk = ensure_spa_sdk(default_cache_dir())
    seed = default_seed(
        app_callback=f"{urls.app}/callback",
        linker_callback=f"{urls.linker}/link/callback",
        spa_origin=urls.spa,
    )
    # Made at each start: the tenant (as the Action's secret) and linker share it, nobody else.
    action_secret = secrets.token_urlsafe(32)
    # linker signs its events for the sample app with this one (LINKER_EVENTS_SECRET).
    events_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    tenant = create_dev_tenant(
        DevTenantConfig(
            base_url=urls.tenant,
            seed=seed,
            action_secrets={
                "LINKER_URL": urls.linker,
                "LINKER_ACTION_SECRET": action_secret,
                "LINKER_CLIENT_ID": LINKER_CLIENT_ID,
                "LINKER_SUGGEST": suggest,
            },
        )
    )
    env = linker_env(
        urls, client_secret=_client_secret(seed, LINKER_CLIENT_ID), action_secret=action_secret
    )
    env["LINKER_EVENTS_URL"] = urls.app + app_rows.PATH
    env["LINKER_EVENTS_SECRET"] = events_secret
    settings = Settings.from_env(env)
    sample_app = create_sample_app(
        SampleAppConfig(
            tenant_url=urls.tenant,
            client_secret=_client_secret(seed, APP_CLIENT_ID),
            public_url=urls.app,
            client_id=APP_CLIENT_ID,
            spa_url=urls.spa,
            events_secret=events_secret,
        )
    )
    spa = create_spa_app(
        SpaConfig(
            tenant_url=urls.tenant,
            public_url=urls.spa,
            api_client_secret=_client_secret(seed, API_CLIENT_ID),
            web_app_url=urls.app,
        ),
        sdk=sdk,
    )
    return [tenant, create_app(settings), sample_app, spa]


def listen(args: argparse.Namespace) -> tuple[DemoUrls, list[socket.socket]]:
    """Bind the four sockets (tenant, linker, app, SPA) before anything starts, so a busy port
    fails at once; the URLs carry the ports actually bound (port 0 picks a free one)."""
    hosts = (TENANT_HOST, args.linker_host, APP_HOST, SPA_HOST)
    ports = (args.tenant_port, args.linker_port, args.app_port, args.spa_port)
    sockets: list[socket.socket] = []
    try:
        for host, port in zip(hosts, ports, strict=True):
            sockets.append(bind(host, port))
    except PortInUse:
        for sock in sockets:
            sock.close()
        raise
    tenant, linker, app, spa = (
        f"http://{host}:{sock.getsockname()[1]}" for host, sock in zip(hosts, sockets, strict=True)
    )
    return DemoUrls(tenant=tenant, linker=linker, app=app, spa=spa), sockets


def demo_servers(
    urls: DemoUrls,
    sockets: Sequence[socket.socket],
    *,
    log_level: str = "warning",
    suggest: str = "off",
) -> ServerGroup:
    """The four servers, ready to `run()`."""
    apps = build_apps(urls, suggest=suggest)
    listeners = [
        Listener(name, url, app, sock)
        for (name, url), app, sock in zip(urls.named(), apps, sockets, strict=True)
    ]
    return ServerGroup(listeners, log_level=log_level)


def banner(urls: DemoUrls, *, suggest: str = "off") -> str:
    lines = [f"Open {urls.app} and sign in"]
    lines += [f"  {name:<11} {url}" for name, url in urls.named()]
    lines.append("Sign in as alice (Google), press Link GitHub, choose alice-codes.")
    if suggest != "off":
        lines.append(
            "Sign in as grace-h (GitHub): linker offers to link Grace's older account "
            "(email and password) into one."
        )
    lines.append(f"The same with a single-page app (auth0-spa-js): {urls.spa}. Ctrl+C stops.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the four servers until Ctrl+C: 0 after a clean stop, 2 when a port cannot be
    bound, 1 when the demo cannot be built or a server fails to start."""
    args = parse_args(argv)
    configure_logging(args.log_level)  # JSON lines, tokens redacted
    if shutil.which("node") is None:
        # Found now rather than at the first sign-in, when the tenant runs the Action shim.
        print(
            "linker demo: Node is needed (the dev tenant runs the Action shim in it); "
            "`make system-deps` installs it",
            file=sys.stderr,
        )
        return 1
    try:
        urls, sockets = listen(args)
    except PortInUse as exc:
        print(f"linker demo: {exc}", file=sys.stderr)
        print(
            "  Pass --tenant-port, --linker-port, --app-port or --spa-port to move a server; "
            "on macOS, "
            "127.0.0.2 needs `sudo ifconfig lo0 alias 127.0.0.2 up` (or --linker-host).",
            file=sys.stderr,
        )
        return 2
    try:
        servers = demo_servers(urls, sockets, log_level=args.log_level, suggest=args.suggest)
    except (OSError, LookupError, ValueError, SpaSdkUnavailable) as exc:
        # no Action file, a bad seed or setting, or auth0-spa-js could not be installed
        for sock in sockets:
            sock.close()
        print(f"linker demo: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(
        servers.run(on_ready=lambda: print(banner(urls, suggest=args.suggest), flush=True))
    )


def _client_secret(seed: Seed, client_id: str) -> str:
    client = seed.client(client_id)
    if client is None:
        raise LookupError(f"the dev tenant's seed has no {client_id!r} client")
    return client.client_secret
