"""`/metrics` for Prometheus and `/api/metrics` for the console, over a real service."""

from __future__ import annotations

import math
from datetime import timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from bot.app import create_app
from bot.messages import utcnow
from bot.metrics_endpoints import FirstlineCollector, snapshot_endpoint
from bot.service import Service
from bot.store import Repository
from bot.store.reporting import Reporting
from tests.fakes.understood import store_understood
from tests.fakes.web_visitor import as_visitor

COMPLAINT = "@KestrelHelp my order never arrived, 2 weeks waiting and nobody answers 😡"


def _samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


@pytest.mark.model
async def test_metrics_exposition_carries_the_figures(client: httpx.AsyncClient) -> None:
    await as_visitor(client, "alice")
    response = await client.post(
        "/api/web/messages", json={"user": "alice", "text": COMPLAINT, "public": True}
    )
    assert response.status_code == 200 and response.json()["understood"]["intent"] == "complaint"
    await as_visitor(client, "bob")
    response = await client.post(
        "/api/web/messages", json={"user": "bob", "text": "you are wonderful, thanks!"}
    )
    assert response.status_code == 200

    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    samples = _samples(metrics.text)

    assert samples[("firstline_first_ack_seconds_count", (("platform", "web"),))] == 2
    p50 = samples[("firstline_first_ack_seconds", (("platform", "web"), ("quantile", "0.5")))]
    assert 0 <= p50 < 60
    assert samples[("firstline_handoffs_open", ())] == 1
    assert samples[("firstline_handoffs_closed_total", (("status", "resolved"),))] == 0
    assert samples[("firstline_messages_total", (("intent", "complaint"),))] == 1
    assert sum(v for (name, _), v in samples.items() if name == "firstline_messages_total") == 2
    assert samples[("firstline_pickup_seconds_count", ())] == 0
    assert math.isnan(samples[("firstline_pickup_seconds", (("quantile", "0.9"),))])


@pytest.mark.model
async def test_the_console_snapshot_needs_a_signed_in_account(
    client: httpx.AsyncClient, service: Service
) -> None:
    signed_in = await client.get("/api/metrics?hours=24&bucket=hour")
    assert signed_in.status_code == 200
    assert signed_in.json()["handoffs"] == {"open": 0, "opened": 0, "resolved": 0, "handed_back": 0}
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service)), base_url="http://t")
    async with anonymous:
        response = await anonymous.get("/api/metrics", headers={"Accept": "application/json"})
    assert response.status_code == 401


@pytest.mark.model
@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 200),
        ("?hours=168&bucket=day", 200),
        ("?bucket=week", 400),
        ("?hours=abc", 400),
        ("?hours=0", 400),
    ],
)
async def test_snapshot_endpoint(service: Service, query: str, status: int) -> None:
    app = Starlette(routes=[Route("/api/metrics", snapshot_endpoint(Reporting(service.repository.engine)))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.get(f"/api/metrics{query}")
    assert response.status_code == status
    if status == 200:
        data = response.json()
        assert set(data) >= {"first_ack_seconds", "pickup_seconds", "handoffs", "volume", "window"}
    else:
        assert "error" in response.json()


def test_public_chatter_left_unanswered_is_a_gauge_over_the_window(repository: Repository) -> None:
    now = utcnow()
    store_understood(repository, "c1", "lol your van", at=now - timedelta(hours=1))
    store_understood(repository, "c2", "shoutout!", at=now - timedelta(hours=30))
    store_understood(repository, "c3", "haha ok", public=False)
    store_understood(repository, "c4", "my parcel never arrived", "complaint")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FirstlineCollector(Reporting(repository.engine), clock=lambda: now))
    samples = _samples(generate_latest(registry).decode())
    assert samples[("firstline_chatter_unanswered", ())] == 1
    assert samples[("firstline_messages_total", (("intent", "chatter"),))] == 3
