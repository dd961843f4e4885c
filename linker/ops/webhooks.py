"""Sending one event to the application's endpoint, signed as Standard Webhooks specifies.

The signature is made by the `standardwebhooks` library (HMAC-SHA256 over
`id.timestamp.body`, with the `whsec_` secret); this module adds what a careful sender owes
the receiver and itself: the timestamp of this very attempt (receivers refuse old ones), no
redirects followed, a bounded time, and at most a few bytes of the answer read, so that a slow
or hostile endpoint costs a replica nothing but one connection for a while.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from standardwebhooks import Webhook

from linker import __version__
from linker.core.events import Event
from linker.core.secret import Secret
from linker.settings import Settings
from linker.tenant.http import egress_route, trust

TIMEOUT_SECONDS = 10.0
# Enough of an error answer to log its first words; the rest is never read.
ANSWER_BYTES = 512
CONNECTIONS = 8


@dataclass(frozen=True)
class Attempt:
    """How one delivery went: `delivered` only on a 2xx answer."""

    delivered: bool
    status: int | None
    reason: str  # for logs and `linker events`: the status, or the kind of failure


class WebhookSender:
    """One pool of connections to `url`, shared by every delivery of a process. It leaves the
    host as the calls to the tenant do (`linker.tenant.http`): through `proxy_url`
    (`LINKER_PROXY_URL`) when set, else as `HTTPS_PROXY` / `NO_PROXY` say, trusting the
    system's CAs and `ca_file` (`LINKER_CA_FILE`), never `~/.netrc`."""

    def __init__(
        self,
        url: str,
        secret: Secret,
        *,
        proxy_url: str | None = None,
        ca_file: Path | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.route = egress_route(url, proxy_url)
        self._tls = trust(ca_file)
        self._webhook = Webhook(secret.reveal())
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTIONS, ssl=self._tls),
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # the route is chosen above
                headers={"user-agent": f"linker/{__version__}"},
            )
        return self._session

    def headers(self, event: Event, *, now: float) -> dict[str, str]:
        """The three Standard Webhooks headers for `event`, timed `now`."""
        moment = datetime.fromtimestamp(now, tz=UTC)
        return {
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": self._webhook.sign(event.id, moment, event.body()),
        }

    async def send(self, event: Event, *, now: float) -> Attempt:
        try:
            async with self._client().post(
                self.url,
                data=event.body(),
                headers=self.headers(event, now=now),
                allow_redirects=False,
                proxy=self.route.proxy,
                proxy_auth=self.route.auth,
            ) as answer:
                await answer.content.read(ANSWER_BYTES)
                status = answer.status
        except aiohttp.ClientConnectorCertificateError as exc:
            found = exc.certificate_error
            why = getattr(found, "verify_message", None) or type(found).__name__
            return Attempt(delivered=False, status=None, reason=f"TLS certificate refused: {why}")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return Attempt(delivered=False, status=None, reason=type(exc).__name__)
        return Attempt(delivered=200 <= status < 300, status=status, reason=f"HTTP {status}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def event_sender(settings: Settings) -> WebhookSender | None:
    """The sender of `LINKER_EVENTS_URL`'s events, with the service's egress settings; None
    when no endpoint is set."""
    if settings.events_url is None or settings.events_secret is None:
        return None
    proxy = settings.proxy_url.reveal() if settings.proxy_url is not None else None
    return WebhookSender(
        settings.events_url, settings.events_secret, proxy_url=proxy, ca_file=settings.ca_file
    )
