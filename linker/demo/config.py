"""The sample app's configuration: which tenant, which client, where it is served."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from linker.client import LinkSettings, random_token

DEMO_CLIENT_ID = "demo-app"
LOGIN_SCOPE = "openid profile email offline_access"
# linker refuses hints older than 600 s (LINKER_HINT_MAX_AGE); refresh well before that.
HINT_REFRESH_AFTER = 480


@dataclass(frozen=True)
class SampleAppConfig:
    """`tenant_url` is the tenant's base URL (http://127.0.0.1:8700 for the dev tenant)."""

    tenant_url: str
    client_secret: str = field(repr=False)
    public_url: str = "http://localhost:8702"
    client_id: str = DEMO_CLIENT_ID
    # A fresh key per start: sessions live in memory, so they die with the process anyway.
    session_secret: str = field(default_factory=random_token, repr=False)
    hint_refresh_after: int = HINT_REFRESH_AFTER
    spa_url: str | None = None  # the single-page sample, linked from the landing page
    # The whsec_ secret of linker's events (LINKER_EVENTS_SECRET): None, no events received.
    events_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("tenant_url", "public_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                raise ValueError(f"{name} must be a base URL such as http://127.0.0.1:8700")
        object.__setattr__(self, "tenant_url", self.tenant_url.rstrip("/"))
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))

    @property
    def issuer(self) -> str:
        """The `iss` of the tenant's ID tokens (Auth0 ends it with a slash)."""
        return f"{self.tenant_url}/"

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/callback"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def link_settings(self) -> LinkSettings:
        parts = urlsplit(self.tenant_url)
        return LinkSettings(
            domain=parts.netloc,
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            scheme=parts.scheme,
            # offline_access again, so the sign-in that comes back brings a fresh refresh token.
            scope=LOGIN_SCOPE,
        )
