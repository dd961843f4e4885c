"""The errors the dev tenant answers with: one base, one flavour per shape Auth0 answers in.

Code anywhere below a route raises a `DevTenantError`; the route renders it with
`response()`, adding the headers every answer of that route carries. The flavours:

- `OAuthError`: `{"error", "error_description"}` (RFC 6749 section 5.2), for `/oauth/token`,
  `/userinfo` and the admin API. `authorize_request.AuthorizeRedirect` is the same error sent
  back to the client's `redirect_uri` as query parameters (RFC 6749 section 4.1.2.1).
- `ErrorPage`: an HTML page, for what a browser sees when there is nowhere safe to redirect.
- `ManagementError`: the Management API's `{"statusCode", "error", "message", "errorCode"}`.
- `ProblemError`: `application/problem+json` (RFC 9457), as the My Account API answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

from linker.devtenant.pages import NextStep, error_page


class DevTenantError(Exception):
    """An error answer: its status, its own headers, and how it is rendered."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        """The answer: `headers` (the route's) first, then the error's own."""
        return JSONResponse(
            self.body(), status_code=self.status, headers={**(headers or {}), **self.headers}
        )


class OAuthError(DevTenantError):
    """An OAuth error: HTTP status, `error` code and `error_description`."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, f"{error}: {description}", headers)
        self.error = error
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


class ErrorPage(DevTenantError):
    """A page a browser is shown, e.g. an `/authorize` refused before `redirect_uri` is
    trusted (redirecting to an unchecked URL would make the tenant an open redirector)."""

    def __init__(
        self, status: int, title: str, detail: str, *, next_step: NextStep | None = None
    ) -> None:
        super().__init__(status, f"{title}: {detail}")
        self.title = title
        self.detail = detail
        self.next_step = next_step

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        page = error_page(self.title, self.detail, self.next_step)
        return HTMLResponse(page, status_code=self.status, headers={**(headers or {})})


class ManagementError(DevTenantError):
    """A Management API error: status, its reason phrase, message and errorCode."""

    def __init__(self, status: int, message: str, error_code: str) -> None:
        super().__init__(status, message)
        self.message = message
        self.error_code = error_code

    def body(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "error": HTTPStatus(self.status).phrase,
            "message": self.message,
            "errorCode": self.error_code,
        }


class ProblemError(DevTenantError):
    """A My Account API error, as `application/problem+json`."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(status, detail)
        self.title = title
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {
            "type": f"https://auth0.com/api-errors/{self.title.lower().replace(' ', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            json.dumps(self.body()),
            status_code=self.status,
            headers={**(headers or {}), **self.headers},
            media_type="application/problem+json",
        )
