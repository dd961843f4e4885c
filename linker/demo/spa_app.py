"""The single-page sample: a page built on the real auth0-spa-js, and its own API.

    app = create_spa_app(SpaConfig(tenant_url=..., public_url=..., api_client_secret=...),
                         sdk=ensure_spa_sdk())

Routes: `GET /` (the page, with its settings as JSON), `GET /app.js` and `GET /style.css`
(the sample's own code), `GET /vendor/auth0-spa-js.production.js` (the SDK, as npm
published it), `GET /explanations.json` (what each refusal means, from `refusals`), and the
API of `spa_api`: `GET /api/me`, `GET /api/identities`.

The page is a public client: everything it knows, a person can read. It holds no secret,
no Management API token, and posts no token in a body; its API reads the access token from
the Authorization header and the identities through its own machine client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from linker.demo.config import HINT_REFRESH_AFTER, SampleAppConfig
from linker.demo.pages import favicon
from linker.demo.refusals import explanation_table
from linker.demo.spa_api import SpaApi
from linker.demo.spa_sdk import VERSION
from linker.demo.tenant_client import closing

SPA_CLIENT_ID = "demo-spa"
API_CLIENT_ID = "demo-spa-api"
API_AUDIENCE = "https://api.linker-demo.example"
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class SpaConfig:
    """`tenant_url` and `public_url` are base URLs; the page's redirect URI is `public_url/`."""

    tenant_url: str
    public_url: str
    api_client_secret: str = field(repr=False)  # the API server's machine client
    client_id: str = SPA_CLIENT_ID
    api_client_id: str = API_CLIENT_ID
    audience: str = API_AUDIENCE
    web_app_url: str | None = None  # the regular web app of the demo, linked from the page

    def __post_init__(self) -> None:
        for name in ("tenant_url", "public_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                raise ValueError(f"{name} must be a base URL such as http://localhost:8703")
        object.__setattr__(self, "tenant_url", self.tenant_url.rstrip("/"))
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))

    def page_settings(self) -> dict[str, object]:
        """What the page's script is told: nothing secret."""
        return {
            "domain": self.tenant_url,
            "clientId": self.client_id,
            "audience": self.audience,
            "redirectUri": self.public_url + "/",
            "sdkVersion": VERSION,
            "hintRefreshAfter": HINT_REFRESH_AFTER,
            "webAppUrl": self.web_app_url,
        }


def create_spa_app(
    config: SpaConfig,
    *,
    sdk: Path,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The page, its assets, the SDK bundle at `sdk`, and the API."""
    if not sdk.is_file():
        raise FileNotFoundError(f"auth0-spa-js is not at {sdk}")
    client = http if http is not None else httpx.AsyncClient(timeout=HTTP_TIMEOUT)
    api = SpaApi(
        tenant_url=config.tenant_url,
        audience=config.audience,
        management=SampleAppConfig(
            tenant_url=config.tenant_url,
            client_secret=config.api_client_secret,
            client_id=config.api_client_id,
        ),
        http=client,
        clock=clock,
    )
    page = _page(config)
    explanations = explanation_table()

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers=_page_headers(config))

    async def vendor(request: Request) -> Response:
        return FileResponse(sdk, media_type="text/javascript", headers=_ASSET_HEADERS)

    async def explain(request: Request) -> Response:
        return JSONResponse(explanations, headers=_ASSET_HEADERS)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/app.js", _asset("app.js", "text/javascript")),
            Route("/favicon.ico", favicon),
            Route("/style.css", _asset("style.css", "text/css")),
            Route("/vendor/auth0-spa-js.production.js", vendor),
            Route("/explanations.json", explain),
            Route("/api/me", api.me),
            Route("/api/identities", api.identities),
        ],
        lifespan=closing(client if http is None else None),
    )


_ASSET_HEADERS = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}


def _read(name: str) -> str:
    return resources.files("linker.demo").joinpath("spa", name).read_text(encoding="utf-8")


def _asset(name: str, media_type: str) -> Callable[[Request], Response]:
    text = _read(name)

    def endpoint(request: Request) -> Response:
        return Response(text, media_type=media_type, headers=_ASSET_HEADERS)

    return endpoint


def _page(config: SpaConfig) -> str:
    # JSON in a data block: "<" escaped so that no value can close the element.
    settings = json.dumps(config.page_settings()).replace("<", "\\u003c")
    return _read("index.html").replace("{{SETTINGS}}", settings).replace("{{VERSION}}", VERSION)


def _page_headers(config: SpaConfig) -> dict[str, str]:
    tenant = config.tenant_url
    return {
        "cache-control": "no-store",
        # Scripts only from this server; the tenant is reached by fetch (tokens) and frames
        # (the SDK's silent-auth iframe, if refresh tokens are ever turned off).
        "content-security-policy": (
            f"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' "
            f"{tenant}; frame-src {tenant}; img-src 'self' data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'"
        ),
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
    }
