"""`/metrics`: what an operator watches, in the Prometheus format, to local scrapers only."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.db.models import DeliveryEvent, Suppression
from tests.web.conftest import WebApp


async def test_metrics_show_deliveries_unmatched_bounces_and_suppressions(web: WebApp, session, org, sent_invoice):
    session.add(DeliveryEvent(organisation_id=org.id, delivery_id=None, source="dsn", type="unparsed", detail={}))
    session.add(Suppression(organisation_id=org.id, email="gone@acme.example", reason="hard_bounce"))
    await session.commit()

    async with httpx.AsyncClient() as client:
        response = await client.get(f"{web.url}/metrics")

    assert response.status_code == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples[("invoicebot_deliveries", (("status", "accepted"),))] == 1
    assert samples[("invoicebot_unmatched_events", (("type", "unparsed"),))] == 1
    assert samples[("invoicebot_suppressed_addresses", ())] == 1


async def test_a_request_forwarded_by_a_proxy_on_this_host_does_not_see_the_metrics(web: WebApp):
    async with httpx.AsyncClient() as client:
        forwarded = await client.get(f"{web.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        standard = await client.get(f"{web.url}/metrics", headers={"Forwarded": "for=203.0.113.9"})

    assert forwarded.status_code == standard.status_code == 404
