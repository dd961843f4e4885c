"""A cookie-keeping HTTP client that behaves like a browser where linking needs one.

It follows redirects across hosts (keeping each host's cookies apart, as a browser does),
reads HTML forms, and submits the auto-POST form of a page whose script would submit it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Self
from urllib.parse import urljoin

import httpx

MAX_REDIRECTS = 30


@dataclass
class Form:
    """One `<form>` of a page: where it goes, its fields, and its buttons' text."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(values.get("action", ""), values.get("method", "get").lower())
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and values.get("name"):
            self._current.fields[values["name"]] = values.get("value", "")
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.text += data


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class ScriptedBrowser:
    """A scripted user: `get`, `submit`, and `choose` on the pages it lands on."""

    def __init__(self, *, stop_at: str | None = None, timeout: float = 20.0) -> None:
        """`stop_at`: a URL prefix (an app's callback) where following redirects ends."""
        self.http = httpx.Client(follow_redirects=False, timeout=timeout)
        self.stop_at = stop_at
        self.page: httpx.Response | None = None
        self.history: list[str] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def get(self, url: str) -> httpx.Response:
        return self._follow(self.http.build_request("GET", url))

    def submit(self, form: Form, base: str | None = None, **overrides: str) -> httpx.Response:
        """Submit `form` as the browser would (its action is resolved against the page)."""
        page_url = base or (str(self.page.url) if self.page is not None else "")
        action = urljoin(page_url, unescape(form.action)) if form.action else page_url
        data = {**form.fields, **overrides}
        if form.method == "post":
            request = self.http.build_request("POST", action, data=data)
        else:
            request = self.http.build_request("GET", action, params=data)
        return self._follow(request)

    @property
    def forms(self) -> list[Form]:
        return forms_of(self.page.text) if self.page is not None else []

    def form_with(self, **fields: str) -> Form:
        """The first form on the page whose fields include these name/value pairs."""
        for form in self.forms:
            if all(form.fields.get(k) == v for k, v in fields.items()):
                return form
        raise AssertionError(f"no form with {fields} on {self.page.url if self.page else None}")

    def form_saying(self, text: str) -> Form:
        for form in self.forms:
            if re.search(re.escape(text), form.text, re.IGNORECASE):
                return form
        raise AssertionError(f"no form saying {text!r} on {self.page.url if self.page else None}")

    def auto_submit(self) -> httpx.Response:
        """Run the page's auto-POST (what its one script does in a real browser)."""
        assert self.page is not None
        forms = self.forms
        assert len(forms) == 1 and forms[0].method == "post", "not an auto-POST page"
        return self.submit(forms[0])

    def _follow(self, request: httpx.Request) -> httpx.Response:
        for _ in range(MAX_REDIRECTS):
            self.history.append(f"{request.method} {request.url}")
            response = self.http.send(request)
            response.read()
            self.page = response
            location = response.headers.get("location")
            if response.status_code not in (301, 302, 303, 307, 308) or not location:
                return response
            target = urljoin(str(request.url), location)
            if self.stop_at and target.startswith(self.stop_at):
                return response
            request = self.http.build_request("GET", target)
        raise AssertionError("too many redirects")
