"""The store on a real Redis Cluster (three primaries on loopback): every operation's keys in
one slot, state spread over the primaries, two replicas sharing attempts (start on one,
callback on the other), racing callbacks and commits linking once, and a primary failing over
to its replica mid-run without a half-done link or an untrue result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from linker.client.events import IdentityLinked
from linker.core.transaction import Transaction
from linker.settings import Settings, SettingsError
from linker.state.attempts import Attempts
from linker.state.keys import WORK_INDEXES, new_commit_id, new_txn_id, work_index, work_key
from linker.state.store import RedisStore, StoreUnavailable, cluster_nodes
from linker.state.work import TTL as WORK_TTL
from linker.testing import FakeClock
from linker.testing.events import EventSink
from tests.events.support import EVENTS_SECRET, outbox, sending_to, until
from tests.service.test_store import txn as store_txn
from tests.service.test_suggest_routes import (
    CURRENT,
    OLDER,
    add_grace,
    commit_as_current,
    offer,
    offer_id,
)
from tests.service.test_suggest_routes import prepared as suggestion_prepared
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import (
    PRIMARY,
    Harness,
    commit_claims,
    hs256,
    make_settings,
    nested_state,
    read_resume,
    running,
    settings_env,
)
from tests.support.redis_cluster import Cluster, redis_cluster

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as running_cluster:
        yield running_cluster


@pytest.fixture
async def store(cluster: Cluster) -> AsyncIterator[RedisStore]:
    opened = RedisStore.from_url(cluster.url)
    assert opened.clustered
    yield opened
    await opened.aclose()


def txn(user: str, **overrides: object) -> Transaction:
    """The store tests' transaction, with an id tagged with its user's slot."""
    return store_txn(new_txn_id(user), user, **overrides)


async def test_a_users_bound_is_kept_in_one_slot(store: RedisStore) -> None:
    """Past the bound, the index names its keys to the script that checks and drops them."""
    attempts = Attempts(store, max_pending_per_user=2)
    first, second, third, fourth = (txn("auth0|bound") for _ in range(4))
    for made in (first, second):
        await attempts.open(made, ttl=60)
    assert await attempts.take(second.id) is not None  # taken: no longer counted
    await attempts.open(third, ttl=60)
    await attempts.open(fourth, ttl=60)  # first, third and fourth: the oldest goes
    assert await attempts.take(first.id) is None
    assert await attempts.take(third.id) is not None
    assert await attempts.take(fourth.id) is not None


async def test_work_is_listed_in_its_group_and_found_without_a_scan(store: RedisStore) -> None:
    commits = [new_commit_id(f"auth0|{n}") for n in range(40)]
    for commit in commits:
        await store.put(work_key(commit), "owed", WORK_TTL, index=work_index(work_key(commit)))
    assert sorted(await store.listed(WORK_INDEXES, limit=100)) == sorted(map(work_key, commits))
    done = work_key(commits[0])
    await store.replace(
        done, "outcome:{" + commits[0][:2] + "}x", "linked", 60, index=work_index(done)
    )
    await store.delete(work_key(commits[1]), index=work_index(work_key(commits[1])))
    left = await store.listed(WORK_INDEXES, limit=100)
    assert sorted(left) == sorted(map(work_key, commits[2:]))


async def test_keys_of_different_slots_in_one_script_are_refused_not_guessed(
    store: RedisStore,
) -> None:
    with pytest.raises(StoreUnavailable):
        await store.claim("prepared:{a}c", "outcome:{b}c", "busy", 60)


async def test_a_link_on_the_cluster_records_and_delivers_its_event(
    cluster: Cluster, tenant: FakeTenant, clock: FakeClock
) -> None:
    """The commit's outcome, its event and the events' index share a slot: one script."""
    with EventSink(EVENTS_SECRET) as sink:
        store = RedisStore.from_url(cluster.url)
        async with sending_to(sink.url, tenant, clock, store=store) as harness:
            assert (await harness.link()).status == "linked"
            await until(harness, lambda: len(sink.events) == 1)
            assert isinstance(sink.events[0], IdentityLinked)
            assert await outbox(harness) == []


async def replicas(
    stack: AsyncExitStack, tenant: FakeTenant, clock: FakeClock, url: str
) -> tuple[Harness, Harness]:
    """Two replicas of the service, each with its own client to the cluster."""
    settings = make_settings(LINKER_STORE_URL=url)
    made = []
    for _ in range(2):
        store = RedisStore.from_url(url)
        made.append(await stack.enter_async_context(running(tenant, clock, settings, store=store)))
    return made[0], made[1]


async def across(a: Harness, b: Harness, secondary: str, primary: str = PRIMARY) -> tuple[str, str]:
    """`primary` starts on `a`, signs in, comes back to `b` (with the browser's cookies), and
    commits on `a`."""
    profile = a.tenant.users[primary]
    # The user as they signed in, before any of these links: their own identity.
    user = {
        "email": profile["email"],
        "email_verified": True,
        "identities": profile["identities"][:1],
    }
    started = await a.start(sub=primary, id_token_hint=a.hint(sub=primary), user=user)
    assert started.status_code == 302, started.text
    code = a.tenant.login(started.headers["location"], sub=secondary)
    b.client.cookies = a.client.cookies
    resumed = read_resume(await b.callback(code=code, state=nested_state(started)))
    assert resumed.status == "pending", resumed.error
    claims = commit_claims(now=int(a.clock()), commit=resumed.commit, primary=profile)
    committed = await a.client.post("/link/commit", json={"commit_token": hs256(claims)})
    return resumed.commit, committed.json()["status"]


async def test_two_replicas_link_across_the_cluster_and_spread_its_state(
    tenant: FakeTenant, clock: FakeClock, cluster: Cluster, store: RedisStore
) -> None:
    """Twelve users each link an account, every start and callback on another replica. A
    user's state shares one slot (their events keep their order); the users spread it."""
    primaries = [f"google-oauth2|{7000 + i}" for i in range(12)]
    secondaries = [f"github|{5000 + i}" for i in range(12)]
    for primary, secondary in zip(primaries, secondaries, strict=True):
        tenant.add_user(primary, email=f"{primary[-4:]}@example.com", connection="google-oauth2")
        tenant.add_user(secondary, email=f"{primary[-4:]}@example.com")
    async with AsyncExitStack() as stack:
        a, b = await replicas(stack, tenant, clock, cluster.url)
        done = [await across(a, b, s, p) for p, s in zip(primaries, secondaries, strict=True)]
    assert [status for _, status in done] == ["linked"] * len(secondaries)
    for primary, secondary in zip(primaries, secondaries, strict=True):
        linked = {f"{i['provider']}|{i['user_id']}" for i in tenant.users[primary]["identities"]}
        assert secondary in linked
    outcome_keys = await store.scan("outcome:")
    assert len(outcome_keys) >= len(secondaries)
    assert len({cluster.primary_of("linker:" + key) for key in outcome_keys}) > 1


async def test_racing_callbacks_and_commits_on_two_replicas_link_once(
    tenant: FakeTenant, clock: FakeClock, cluster: Cluster
) -> None:
    tenant.add_user("github|6001", email="alice@example.com")
    async with AsyncExitStack() as stack:
        a, b = await replicas(stack, tenant, clock, cluster.url)
        started = await a.start()
        code = tenant.login(started.headers["location"], sub="github|6001")
        b.client.cookies = a.client.cookies
        state = nested_state(started)
        answers = await asyncio.gather(
            *[replica.callback(code=code, state=state) for replica in (a, b, a, b)]
        )
        # One takes the transaction and resumes; the others find it gone (a dead end).
        assert sorted(r.status_code for r in answers) == [200, 400, 400, 400]
        commits = [read_resume(r).commit for r in answers if r.status_code == 200]
        committed = await asyncio.gather(*[replica.commit(commits[0]) for replica in (a, b, a, b)])
    statuses = [answer.json()["status"] for answer in committed]
    assert statuses.count("linked") >= 1
    assert set(statuses) <= {"linked", "failed"}
    assert tenant.calls["POST identities"] == 1


@pytest.mark.slow
async def test_a_primary_failing_over_mid_run_leaves_no_half_done_link(
    tenant: FakeTenant, clock: FakeClock, tmp_path: Path
) -> None:
    """Flows run while one primary is killed and its replica promoted: each answer is true
    (linked exactly when the link exists), and once the cluster has settled and reconcile has
    run, every link has its merge."""
    secondaries = [f"github|{7000 + i}" for i in range(24)]
    for sub in secondaries:
        tenant.add_user(sub, email="alice@example.com", user_metadata={f"from_{sub[7:]}": 1})
    with redis_cluster(tmp_path, replicas=1) as failing:
        async with AsyncExitStack() as stack:
            a, b = await replicas(stack, tenant, clock, failing.url)

            async def flow(sub: str) -> tuple[str, str]:
                try:
                    return sub, (await across(a, b, sub))[1]
                except AssertionError:
                    return sub, "failed"  # refused before the commit: nothing written

            first = [flow(sub) for sub in secondaries[:5]]
            run = asyncio.gather(*first)
            await asyncio.sleep(0.05)
            failing.kill(failing.ports[0])
            results = list(await run)
            failing.wait_ok()
            results += [await flow(sub) for sub in secondaries[5:]]
            report = await a.reconcile()
            assert report.failed == []
    linked = {f"{i['provider']}|{i['user_id']}" for i in tenant.users[PRIMARY]["identities"]}
    for sub, status in results:
        assert status in ("linked", "failed"), (sub, status)
        assert (status == "linked") == (sub in linked), (sub, status)
    metadata = tenant.users[PRIMARY]["user_metadata"]
    for sub in linked - {PRIMARY}:
        if sub in secondaries:
            assert metadata.get(f"from_{sub[7:]}") == 1, f"{sub} linked without its merge"
    assert (
        sum(status == "linked" for _, status in results[5:]) == len(secondaries) - 5
    )  # settled: all link


def test_a_cluster_url_names_its_nodes_and_its_acl_user() -> None:
    assert cluster_nodes("rediss+cluster://linker:p%40ss,w@10.0.0.1:6379,[::1]:7000/0") == (
        [("10.0.0.1", 6379), ("::1", 7000)],
        "linker",
        "p@ss,w",
    )


@pytest.mark.parametrize(
    "url", ["redis+cluster://host", "redis+cluster://h:1,h", "redis+cluster://u:secret@h:99999"]
)
def test_a_bad_cluster_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(settings_env(LINKER_STORE_URL=url))
    assert caught.value.name == "LINKER_STORE_URL"
    assert "secret" not in str(caught.value) and "host:port" in str(caught.value)


async def test_suggested_linking_and_not_now_on_the_cluster(
    tenant: FakeTenant, clock: FakeClock, cluster: Cluster
) -> None:
    """The suggestion's nested login and its "Not now" keep their keys in their user's slot,
    as `/link/start`'s do: accepted, it links; declined, the decline is committed."""
    older = add_grace(tenant)
    settings = make_settings(LINKER_STORE_URL=cluster.url)
    async with running(tenant, clock, settings, store=RedisStore.from_url(cluster.url)) as on:
        declined = await on.client.post(
            "/link/suggest/decline", data={"offer": offer_id(await offer(on)), "refuse": "1"}
        )
        resumed = read_resume(declined)
        assert resumed.status == "pending", resumed.result
        assert (await commit_as_current(on, resumed.commit))["status"] == "declined"
        commit = await suggestion_prepared(on)
        result = await commit_as_current(on, commit)
    assert (result["status"], result["primary"]) == ("linked", OLDER)
    assert CURRENT in {f"{i['provider']}|{i['user_id']}" for i in older["identities"]}
