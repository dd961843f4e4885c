"""`response_mode=web_message`: the login's answer posted to the window that asked for it.

auth0-spa-js asks for it in the hidden iframe of `getTokenSilently` (with `prompt=none`) and
in the popup of `loginWithPopup`. Instead of redirecting to `redirect_uri?code=..&state=..`,
Auth0 answers a small page that posts `{type: "authorization_response", response: {...}}` to
the parent (iframe) or opener (popup) window, addressed to `redirect_uri`'s origin only, which
must be one of the client's Allowed Web Origins (`authorize_request` checks that).

Every path that ends an `/authorize` request (an SSO session reused at once, a login page, an
Action's redirect and `/continue`, a refusal) ends in a redirect to `redirect_uri` carrying the
request's `state`. This middleware remembers the web_message requests by (redirect_uri, state)
and turns exactly those redirects into the posting page, so the login code keeps one way out.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from html import escape
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linker.devtenant.authorize_request import origin_of
from linker.devtenant.state import TenantState

MAX_REMEMBERED = 1000  # open web_message requests; the oldest is forgotten first


def _target(url: str, state: str | None) -> tuple[str, str | None]:
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}{parts.path}", state)


def web_message_page(origin: str, response: dict[str, str]) -> str:
    """The page that posts `response` to `origin`, in the opener (popup) or parent (iframe)."""
    # JSON inside a script element: "<", ">" and "&" escaped so no text can close the element.
    data = json.dumps({"type": "authorization_response", "response": response})
    origin_js = json.dumps(origin)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        data = data.replace(char, code)
        origin_js = origin_js.replace(char, code)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Authorization Response</title></head><body>"
        f"<p>Returning to {escape(origin)}…</p><script>"
        f"(function(){{var message={data};"
        "var target=window.opener&&window.opener!==window?window.opener:window.parent;"
        f"target.postMessage(message,{origin_js});}})();"
        "</script></body></html>"
    )


class WebMessageMiddleware:
    """Turns the final redirect of a `response_mode=web_message` request into its page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.open: OrderedDict[tuple[str, str | None], str] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/authorize":
            self._remember(scope)
        if not self.open:
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] in (302, 303):
                location = Headers(raw=message.get("headers", [])).get("location", "")
                query = dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
                origin = self.open.pop(_target(location, query.get("state")), None)
                if origin is not None:
                    replaced = True
                    await self._send_page(send, origin, query, message.get("headers", []))
                    return
            if replaced:
                return  # the redirect's (empty) body: the page was sent instead
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _remember(self, scope: Scope) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        redirect_uri = query.get("redirect_uri")
        if query.get("response_mode") != "web_message" or not redirect_uri:
            return
        tenant: TenantState = scope["app"].state.tenant
        client = tenant.seed.client(query.get("client_id", ""))
        origin = origin_of(redirect_uri)
        if client is None or origin not in client.web_origins:
            return  # refused as a page by the /authorize checks; nothing will be posted
        self.open[_target(redirect_uri, query.get("state"))] = origin
        while len(self.open) > MAX_REMEMBERED:
            self.open.popitem(last=False)

    @staticmethod
    async def _send_page(
        send: Send, origin: str, response: dict[str, str], headers: list[tuple[bytes, bytes]]
    ) -> None:
        body = web_message_page(origin, response).encode()
        # The redirect's other headers stay: its Set-Cookie is the session the login leaves
        # (after linker's nested login, `/continue` gives the user's own session back).
        kept = [
            (name, value)
            for name, value in headers
            if name.lower() not in (b"location", b"content-length", b"content-type")
        ]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    *kept,
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
