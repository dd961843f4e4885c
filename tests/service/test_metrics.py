"""`/metrics` is valid Prometheus text: counters, and duration histograms with buckets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from linker.ops.observability import (
    MULTIPROCESS_DIR,
    REQUEST_BUCKETS,
    UPSTREAM_BUCKETS,
    Metrics,
    upstream_kind,
)
from tests.support.harness import Harness


async def scrape(harness: Harness) -> dict[str, Metric]:
    response = await harness.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


async def test_metrics_parse_and_count_a_link(harness: Harness) -> None:
    await harness.link()
    families = await scrape(harness)

    requests = families["linker_requests"]
    assert requests.type == "counter"
    linked = [
        s
        for s in requests.samples
        if s.name == "linker_requests_total" and s.labels.get("status") == "linked"
    ]
    assert [(s.labels["step"], s.value) for s in linked] == [("commit", 1.0)]

    seconds = families["linker_request_seconds"]
    assert seconds.type == "histogram"
    for step in ("start", "callback", "confirm", "commit"):
        buckets = [
            s.labels["le"]
            for s in seconds.samples
            if s.name == "linker_request_seconds_bucket" and s.labels["step"] == step
        ]
        assert buckets == [*(str(b) for b in REQUEST_BUCKETS), "+Inf"]
        count = [
            s.value
            for s in seconds.samples
            if s.name == "linker_request_seconds_count" and s.labels["step"] == step
        ]
        assert count == [1.0]

    upstream = families["linker_upstream_seconds"]
    assert upstream.type == "histogram"
    kinds = {s.labels["kind"] for s in upstream.samples if s.name.endswith("_count")}
    assert {"discovery", "jwks", "token", "management"} <= kinds
    for kind in kinds:
        buckets = [
            s.labels["le"]
            for s in upstream.samples
            if s.name == "linker_upstream_seconds_bucket" and s.labels["kind"] == kind
        ]
        assert buckets == [*(str(b) for b in UPSTREAM_BUCKETS), "+Inf"]
    attempts = families["linker_upstream_attempts"]
    assert any(s.labels.get("outcome") == "201" for s in attempts.samples)


async def test_each_step_request_has_its_loop_time(harness: Harness) -> None:
    await harness.link()
    await harness.client.get("/link/start", params={"session_token": "x", "state": "s"})
    await harness.client.get("/healthz")
    families = await scrape(harness)

    loop = families["linker_request_loop_seconds"]
    assert loop.type == "histogram"
    counts = {
        s.labels["step"]: s.value
        for s in loop.samples
        if s.name == "linker_request_loop_seconds_count"
    }
    # The dead end counts under start; /healthz and /metrics are no step and are not timed.
    assert counts == {"start": 2.0, "callback": 1.0, "confirm": 1.0, "commit": 1.0}
    for step in counts:
        buckets = [
            s.labels["le"]
            for s in loop.samples
            if s.name == "linker_request_loop_seconds_bucket" and s.labels["step"] == step
        ]
        assert buckets == [*(str(b) for b in REQUEST_BUCKETS), "+Inf"]
        total = [
            s.value
            for s in loop.samples
            if s.name == "linker_request_loop_seconds_sum" and s.labels["step"] == step
        ]
        assert total[0] > 0


async def test_a_step_that_fails_still_has_its_loop_time(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the step")

    monkeypatch.setattr("linker.app.commit", broken)
    transport = httpx.ASGITransport(app=harness.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://linker.test") as client:
        answer = await client.post("/link/commit", json={"commit_token": "t"})
    assert answer.status_code == 500
    families = await scrape(harness)
    counts = [
        (s.labels["step"], s.value)
        for s in families["linker_request_loop_seconds"].samples
        if s.name == "linker_request_loop_seconds_count"
    ]
    assert counts == [("commit", 1.0)]


def test_apps_do_not_share_counters() -> None:
    first, second = Metrics(), Metrics()
    first.count("linker_requests_total", step="start", status="redirect", code="")
    assert 'step="start"' in first.render() and 'step="start"' not in second.render()


def test_a_metrics_directory_set_too_late_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This process imported prometheus_client without it: its values live in memory, and a
    # scrape of the directory would silently leave them out.
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    with pytest.raises(RuntimeError, match="set it before the process starts"):
        Metrics()


def test_a_new_metric_name_is_registered_on_first_use() -> None:
    metrics = Metrics()
    metrics.count("linker_commits_total", status="linked")
    metrics.observe("linker_commit_seconds", 0.2, step="commit")
    families = {f.name: f for f in text_string_to_metric_families(metrics.render())}
    assert families["linker_commits"].samples[0].value == 1.0
    assert families["linker_commit_seconds"].type == "histogram"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://t.example/.well-known/openid-configuration", "discovery"),
        ("https://t.example/.well-known/jwks.json", "jwks"),
        ("https://t.example/oauth/token", "token"),
        ("https://t.example/userinfo", "userinfo"),
        ("https://t.example/api/v2/users/auth0%7C1/identities", "management"),
        ("https://t.example/api/v2/client-grants?client_id=a&audience=b", "management"),
        ("https://t.example/oauth/token?x=/userinfo", "token"),
        ("https://t.example/authorize", "other"),
    ],
)
def test_upstream_calls_are_labelled_by_their_path(url: str, kind: str) -> None:
    assert upstream_kind(url) == kind
