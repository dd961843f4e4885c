"""Suggested linking at sign-in over real HTTP: the dev tenant runs the shim in Node with
`LINKER_SUGGEST` set, linker runs as deployed (docs/protocol.md section 8).

The seed's pair: `auth0|grace` (older, database, verified) and `github|1005` (a later sign-up
with the same verified address in other case), and `auth0|grace-early`, registered before both
with Grace's address and never verified: the squatter that must never be offered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from linker import Settings, create_app
from linker.client import build_authorize_url, random_token, s256_challenge
from linker.devtenant.state import TenantState
from linker.testing.browser import ScriptedBrowser
from linker.testing.clock import FakeClock
from linker.testing.servers import ServerThread, free_port
from linker.testing.stack import (
    ACTION_SECRET,
    APP_CALLBACK,
    LINKER_HOST,
    TENANT_HOST,
    Outcome,
    Stack,
    linker_env,
    stack_tenant,
)
from tests.support.tenant_admin import link_as_administrator

pytestmark = pytest.mark.e2e

GRACE, GRACE_GITHUB, SQUATTER = "auth0|grace", "github|1005", "auth0|grace-early"
DATABASE = "Username-Password-Authentication"


@dataclass
class SuggestStack:
    stack: Stack
    tenant: TenantState

    def mode(self, mode: str, interval: str | None = None) -> None:
        """The shim's `LINKER_SUGGEST` (and interval), read by the Action at every login."""
        secrets = self.tenant.action_secrets
        assert isinstance(secrets, dict)  # the tenant's own copy (`create_dev_tenant`)
        secrets["LINKER_SUGGEST"] = mode
        if interval is None:
            secrets.pop("LINKER_SUGGEST_INTERVAL", None)
        else:
            secrets["LINKER_SUGGEST_INTERVAL"] = interval


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuggestStack]:
    """The dev tenant and linker, as `linker.testing.stack.run_stack` serves them, with the
    tenant's Action secrets at hand to switch `LINKER_SUGGEST`."""
    audit = tmp_path_factory.mktemp("suggest") / "audit.jsonl"
    tenant_port, linker_port = free_port(TENANT_HOST), free_port(LINKER_HOST)
    tenant_url = f"http://{TENANT_HOST}:{tenant_port}"
    linker_url = f"http://{LINKER_HOST}:{linker_port}"
    env = linker_env(
        tenant_url,
        linker_url,
        LINKER_ALLOWED_CLIENT_IDS="demo-app",
        LINKER_AUDIT_FILE=str(audit),
        LINKER_UPSTREAM_BUDGET="3",
    )
    clock = FakeClock(real_time=True)
    linker = create_app(Settings.from_env(env), clock=clock)
    tenant_app = stack_tenant(tenant_url, linker_url)
    with (
        ServerThread(tenant_app, host=TENANT_HOST, port=tenant_port),
        ServerThread(linker, host=LINKER_HOST, port=linker_port),
    ):
        stack = Stack(tenant_url, linker_url, clock, Path(audit), linker)
        try:
            yield SuggestStack(stack, tenant_app.state.tenant)
        finally:
            stack.admin.close()


@pytest.fixture
def s(served: SuggestStack) -> Iterator[SuggestStack]:
    served.stack.reset()
    served.mode("suggest")
    yield served
    served.mode("off")


@dataclass
class Login:
    browser: ScriptedBrowser
    verifier: str
    page: httpx.Response


def sign_in(stack: Stack, browser: ScriptedBrowser, user_id: str) -> Login:
    """An ordinary sign-in of `demo-app` (no link asked), up to wherever it lands."""
    verifier = random_token()
    url = build_authorize_url(
        f"{stack.tenant_url}/authorize",
        client_id="demo-app",
        redirect_uri=APP_CALLBACK,
        scope="openid profile email",
        state=random_token(),
        nonce=random_token(),
        code_challenge=s256_challenge(verifier),
    )
    browser.get(url)
    browser.submit(browser.form_with(connection=stack.connection_of(user_id)))
    page = browser.submit(browser.form_with(user_id=user_id))
    return Login(browser, verifier, page)


def finish(stack: Stack, login: Login, page: httpx.Response | None = None) -> Outcome:
    return stack.resume(login.browser, page or login.page, login.verifier, "demo-app")


def is_offer(page: httpx.Response) -> bool:
    return page.status_code == 200 and "/link/suggest/choose" in page.text


def accept(login: Login, candidate: str) -> httpx.Response:
    """Press the (only) candidate's button, then sign in to `candidate` at the nested login."""
    browser = login.browser
    browser.submit(browser.form_with(candidate="0"))
    return browser.submit(browser.form_with(user_id=candidate))


def test_second_sign_up_links_into_the_older_account(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        assert is_offer(login.page)
        text = login.page.text
        # One candidate: Grace's own database account; the squatter's is never offered.
        assert text.count("/link/suggest/choose") == 1
        assert "Sign in with your email and password to link" in text
        assert "Not now" in text and "Sign out" not in text
        for secret in ("grace", "Grace", "@", "auth0|", "1005"):
            assert secret not in text  # no email, id or name shown
        outcome = finish(stack, login, accept(login, GRACE))
    assert outcome.tokens is not None, outcome.error_description
    # The application sees the surviving, older user.
    assert outcome.tokens.claims["sub"] == GRACE
    assert outcome.link_result == {
        "status": "linked",
        "identity": {"provider": "github", "user_id": "1005", "connection": "github"},
        "primary": GRACE,
    }
    assert stack.identities(GRACE) == [GRACE, GRACE_GITHUB]
    assert stack.user(GRACE_GITHUB) is None
    user = stack.user(GRACE)
    assert user is not None
    # The merge ran from the signed-in account into the older one, which wins (primary-wins).
    assert user["user_metadata"] == {
        "theme": "dark",
        "github_handle": "grace-h",
        "preferences": {"language": "en", "timezone": "America/New_York"},
    }
    assert user["app_metadata"] == {"plan": "team"}
    squatter = stack.user(SQUATTER)
    assert squatter is not None and len(squatter["identities"]) == 1
    audit = stack.audit_lines()[-1]
    assert (audit["status"], audit["primary"], audit["secondary"], audit["direction"]) == (
        "linked",
        GRACE,
        GRACE_GITHUB,
        "into_candidate",
    )
    assert audit["action"] == "suggest"
    assert audit["secondary_metadata"]["user_metadata"]["github_handle"] == "grace-h"
    # Signing in with GitHub again signs in as Grace, with nothing offered.
    suggests = stack.requests("GET", "/api/v2/users-by-email")
    with stack.browser() as browser:
        again = sign_in(stack, browser, GRACE_GITHUB)
        outcome = finish(stack, again)
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE
    assert stack.requests("GET", "/api/v2/users-by-email") == suggests


def test_no_candidate_resumes_at_once(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser:
        # Alice's Google account is the oldest with her address: nothing older to offer.
        login = sign_in(stack, browser, "google-oauth2|alice")
        assert not is_offer(login.page) and "/continue" in login.page.text
        outcome = finish(stack, login)
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == "google-oauth2|alice"
    assert outcome.link_result == {"status": "skipped", "identity": None, "primary": None}


def test_nothing_to_offer_is_remembered_for_the_interval(s: SuggestStack) -> None:
    stack = s.stack
    before = int(time.time())
    with stack.browser() as browser:
        outcome = finish(stack, sign_in(stack, browser, "google-oauth2|alice"))
    assert outcome.link_result is not None and outcome.link_result["status"] == "skipped"
    user = stack.user("google-oauth2|alice")
    assert user is not None
    assert user["app_metadata"]["linker_suggest"]["checked_at"] >= before
    # Within the interval: straight to the application, nothing looked up, nothing claimed.
    lookups = stack.requests("GET", "/api/v2/users-by-email")
    with stack.browser() as browser:
        login = sign_in(stack, browser, "google-oauth2|alice")
        assert "/continue" not in login.page.text
        outcome = finish(stack, login)
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == "google-oauth2|alice"
    assert "https://linker/link_result" not in outcome.tokens.claims
    assert stack.requests("GET", "/api/v2/users-by-email") == lookups
    # Once it has passed, the login is looked up again.
    s.mode("suggest", interval="0")
    with stack.browser() as browser:
        outcome = finish(stack, sign_in(stack, browser, "google-oauth2|alice"))
    assert outcome.link_result is not None and outcome.link_result["status"] == "skipped"
    assert stack.requests("GET", "/api/v2/users-by-email") > lookups


def test_require_mode_does_not_look_up_again_within_the_interval(s: SuggestStack) -> None:
    stack = s.stack
    s.mode("require")
    with stack.browser() as browser:
        outcome = finish(stack, sign_in(stack, browser, "google-oauth2|alice"))
    assert outcome.link_result is not None and outcome.link_result["status"] == "skipped"
    lookups = stack.requests("GET", "/api/v2/users-by-email")
    with stack.browser() as browser:
        outcome = finish(stack, sign_in(stack, browser, "google-oauth2|alice"))
    assert outcome.tokens is not None and "https://linker/link_result" not in outcome.tokens.claims
    assert stack.requests("GET", "/api/v2/users-by-email") == lookups


def test_a_decline_is_kept_when_nothing_is_found_later(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        finish(stack, login, browser.submit(browser.form_saying("Not now")))
    declined = stack.user(GRACE_GITHUB)
    assert declined is not None
    declined_at = declined["app_metadata"]["linker_suggest"]["declined_at"]
    # Grace's account is linked into Dave's: nothing older to offer any more.
    link_as_administrator(stack, "auth0|dave", "auth0", "grace")
    s.mode("suggest", interval="0")
    with stack.browser() as browser:
        outcome = finish(stack, sign_in(stack, browser, GRACE_GITHUB))
    assert outcome.link_result is not None and outcome.link_result["status"] == "skipped"
    user = stack.user(GRACE_GITHUB)
    assert user is not None
    memory = user["app_metadata"]["linker_suggest"]
    assert memory["declined_at"] == declined_at and memory["checked_at"] >= declined_at


def test_not_now_is_remembered_for_the_interval(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        assert is_offer(login.page)
        before = int(time.time())
        outcome = finish(stack, login, browser.submit(browser.form_saying("Not now")))
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE_GITHUB
    assert outcome.link_result is not None and outcome.link_result["status"] == "declined"
    user = stack.user(GRACE_GITHUB)
    assert user is not None
    assert user["app_metadata"]["linker_suggest"]["declined_at"] >= before
    assert stack.identities(GRACE) == [GRACE]  # nothing linked
    # Within the interval: the login goes straight to the application, nothing is looked up.
    lookups = stack.requests("GET", "/api/v2/users-by-email")
    with stack.browser() as browser:
        again = sign_in(stack, browser, GRACE_GITHUB)
        assert not is_offer(again.page)
        outcome = finish(stack, again)
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE_GITHUB
    assert "https://linker/link_result" not in outcome.tokens.claims
    assert stack.requests("GET", "/api/v2/users-by-email") == lookups
    # Once the interval has passed, the offer comes again.
    s.mode("suggest", interval="0")
    with stack.browser() as browser:
        assert is_offer(sign_in(stack, browser, GRACE_GITHUB).page)


def test_require_mode_denies_a_refusal(s: SuggestStack) -> None:
    stack = s.stack
    s.mode("require")
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        assert is_offer(login.page)
        assert "Sign out" in login.page.text and "Not now" not in login.page.text
        outcome = finish(stack, login, browser.submit(browser.form_saying("Sign out")))
    assert outcome.error == "access_denied" and outcome.code == "link_required"
    user = stack.user(GRACE_GITHUB)
    assert user is not None and "linker_suggest" not in user["app_metadata"]
    assert stack.identities(GRACE) == [GRACE]


def test_require_mode_links_and_continues(s: SuggestStack) -> None:
    stack = s.stack
    s.mode("require")
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        outcome = finish(stack, login, accept(login, GRACE))
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE
    assert stack.identities(GRACE) == [GRACE, GRACE_GITHUB]


# -- attacks, through the public routes ----------------------------------------------------


def test_the_unverified_squatter_is_never_offered_nor_primary(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        # Only one candidate is on the page; asking for a second one chooses nothing.
        page = browser.submit(browser.form_with(candidate="0"), candidate="1")
        assert page.status_code == 200 and "/continue" in page.text
        outcome = finish(stack, login, page)
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE_GITHUB
    assert outcome.link_result == {"status": "denied", "error": "invalid_request"}
    # The squatter signing in is not offered anything either (its email is not verified).
    lookups = stack.requests("GET", "/api/v2/users-by-email")
    with stack.browser() as browser:
        outcome = finish(stack, sign_in(stack, browser, SQUATTER))
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == SQUATTER
    assert stack.requests("GET", "/api/v2/users-by-email") == lookups
    # Grace's own older account: the squatter is older still, but unverified, so not offered.
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE)
        assert not is_offer(login.page)
        outcome = finish(stack, login)
    assert outcome.link_result == {"status": "skipped", "identity": None, "primary": None}
    for user_id in (GRACE, GRACE_GITHUB, SQUATTER):
        assert stack.identities(user_id) == [user_id]


def test_nested_login_as_another_account_is_refused(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        # The nested login at the database connection, signed in as the squatter instead.
        outcome = finish(stack, login, accept(login, SQUATTER))
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE_GITHUB
    assert outcome.link_result == {"status": "denied", "error": "candidate_mismatch"}
    for user_id in (GRACE, GRACE_GITHUB, SQUATTER):
        assert stack.identities(user_id) == [user_id]
    # In require mode the same refusal ends the login.
    s.mode("require")
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        outcome = finish(stack, login, accept(login, SQUATTER))
    assert outcome.error == "access_denied" and outcome.code == "candidate_mismatch"


def test_the_offer_in_another_browser_links_nothing(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser, stack.browser() as other:
        login = sign_in(stack, browser, GRACE_GITHUB)
        form = browser.form_with(candidate="0")
        # The page's form, forwarded to another browser (signed in as Grace, even).
        sign_in(stack, other, GRACE)
        page = other.submit(form, base=str(login.page.url))
        assert page.status_code == 400 and "browser_mismatch" in page.text
        refused = other.submit(browser.form_saying("Not now"), base=str(login.page.url))
        assert refused.status_code == 400 and "browser_mismatch" in refused.text
        # The offer was not spent: its own browser still links.
        outcome = finish(stack, login, accept(login, GRACE))
        assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE
        # And used once: the same choice again from its browser is a dead end.
        again = browser.submit(form, base=str(login.page.url))
        assert again.status_code == 400
    assert stack.identities(GRACE) == [GRACE, GRACE_GITHUB]


def _start_token(stack: Stack, user: dict[str, Any], *, sub: str) -> str:
    """A start token as the shim makes one (the test holds the Action's secret)."""
    now = int(time.time())
    claims = {
        "linker_v": 2,
        "jti": random_token(),
        "action": "suggest",
        "suggest": "suggest",
        "client_id": "demo-app",
        "user": user,
        "sub": sub,
        "iss": stack.domain,
        "iat": now,
        "exp": now + 300,
    }
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(ACTION_SECRET))


def test_answers_do_not_let_a_stranger_enumerate_emails(s: SuggestStack) -> None:
    stack = s.stack
    suggest = f"{stack.linker_url}/link/suggest"
    # Without a start token the Action signed, nothing is looked up, whatever is asked.
    lookups = stack.requests("GET", "/api/v2/users-by-email")
    for token in ("", "x.y.z", "grace@example.com"):
        page = httpx.get(suggest, params={"session_token": token, "state": "s"})
        assert page.status_code == 400 and "invalid_session_token" in page.text
    assert stack.requests("GET", "/api/v2/users-by-email") == lookups

    def answer(email: str, verified: bool, sub: str) -> tuple[str, int]:
        identity = {"provider": sub.split("|")[0], "user_id": sub.split("|")[1]}
        user = {
            "email": email,
            "email_verified": verified,
            "identities": [{**identity, "connection": "github", "isSocial": True}],
        }
        before = stack.requests("GET", "/api/v2/users-by-email")
        page = httpx.get(
            suggest, params={"session_token": _start_token(stack, user, sub=sub), "state": "s"}
        )
        kind = "offer" if is_offer(page) else "resume" if "/continue" in page.text else "other"
        return kind, stack.requests("GET", "/api/v2/users-by-email") - before

    # A verified user with candidates is offered; the others resume, after the same lookups.
    assert answer("Grace@Example.com", True, GRACE_GITHUB) == ("offer", 2)
    assert answer("Grace@Example.com", False, GRACE_GITHUB) == ("resume", 2)
    assert answer("Nobody@Example.com", True, "github|4242") == ("resume", 2)


def test_a_reloaded_offer_url_is_refused(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser:
        sign_in(stack, browser, GRACE_GITHUB)
        start = next(h for h in browser.history if "/link/suggest?" in h).split(" ", 1)[1]
        again = browser.get(start)
    assert again.status_code == 400 and "invalid_session_token" in again.text


# -- bad days ------------------------------------------------------------------------------


def test_a_failed_lookup_never_locks_out_in_suggest_mode(s: SuggestStack) -> None:
    stack = s.stack
    stack.fault(method="GET", path=r"/api/v2/users-by-email", kind="status", status=403)
    with stack.browser() as browser:
        outcome = finish(stack, sign_in(stack, browser, GRACE_GITHUB))
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE_GITHUB
    assert outcome.link_result == {"status": "failed", "error": "management_api_error"}
    s.mode("require")
    with stack.browser() as browser:
        outcome = finish(stack, sign_in(stack, browser, GRACE_GITHUB))
    assert outcome.error == "access_denied" and outcome.code == "management_api_error"


def test_a_dropped_link_answer_is_settled_by_reading(s: SuggestStack) -> None:
    stack = s.stack
    stack.fault(method="POST", path=r"/api/v2/users/.*/identities", kind="drop", times=1)
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        outcome = finish(stack, login, accept(login, GRACE))
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE
    assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
    assert stack.identities(GRACE) == [GRACE, GRACE_GITHUB]  # linked once
    # The dropped answer was settled by reading Grace's identities before sending again.
    assert stack.requests("GET", r"/api/v2/users/auth0.grace$") >= 2


def test_a_candidate_gone_meanwhile_links_nothing(s: SuggestStack) -> None:
    stack = s.stack
    with stack.browser() as browser:
        login = sign_in(stack, browser, GRACE_GITHUB)
        browser.submit(browser.form_with(candidate="0"))
        page = browser.submit(browser.form_with(user_id=GRACE))
        # Before the commit, Grace's account is linked into Dave's (an administrator's doing).
        link_as_administrator(stack, "auth0|dave", "auth0", "grace")
        outcome = finish(stack, login, page)
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE_GITHUB
    assert outcome.link_result == {"status": "denied", "error": "identity_conflict"}
    assert stack.identities(GRACE_GITHUB) == [GRACE_GITHUB]
    assert stack.requests("POST", r"/api/v2/users/auth0.grace/identities") == 0


def test_a_result_the_shim_cannot_trust_never_locks_out_in_suggest_mode(s: SuggestStack) -> None:
    """The result token comes back spoilt (expired after a late Continue, or altered): it
    applies nothing; in suggest mode the login the user never asked to link continues as the
    user who signed in, and in require mode it is denied."""
    stack = s.stack
    for mode in ("suggest", "require"):
        s.mode(mode)
        with stack.browser() as browser:
            login = sign_in(stack, browser, GRACE_GITHUB)
            back = browser.submit(
                browser.form_saying("Not now" if mode == "suggest" else "Sign out")
            )
            (resume,) = browser.forms
            spoilt = resume.fields["session_token"][:-4] + "AAAA"
            page = browser.submit(resume, session_token=spoilt)
            outcome = stack.finish(browser, page, login.verifier, "demo-app")
        assert back.status_code == 200
        if mode == "suggest":
            assert outcome.tokens is not None and outcome.tokens.claims["sub"] == GRACE_GITHUB
            assert outcome.link_result == {"status": "failed", "error": "invalid_session_token"}
            user = stack.user(GRACE_GITHUB)
            assert user is not None and "declined_at" not in user["app_metadata"].get(
                "linker_suggest", {}
            )
        else:
            assert outcome.error == "access_denied" and outcome.code == "invalid_session_token"
    assert stack.identities(GRACE) == [GRACE]
