"""`/metrics`: what an operator watches, in the Prometheus format, to holders of the metrics token only."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.db.models import DeliveryEvent, Suppression
from tests.harness.web import StartWeb

METRICS_TOKEN = "metrics-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


async def test_metrics_show_deliveries_unmatched_bounces_and_suppressions(
    start_web: StartWeb, session, org, sent_invoice
):
    web = await start_web(INVOICEBOT_METRICS_TOKEN=METRICS_TOKEN)
    session.add(DeliveryEvent(organisation_id=org.id, delivery_id=None, source="dsn", type="unparsed", detail={}))
    session.add(Suppression(organisation_id=org.id, email="gone@acme.example", reason="hard_bounce"))
    await session.commit()

    async with httpx.AsyncClient() as client:
        response = await client.get(f"{web.url}/metrics", headers=BEARER)

    assert response.status_code == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples[("invoicebot_deliveries", (("status", "accepted"),))] == 1
    assert samples[("invoicebot_unmatched_events", (("type", "unparsed"),))] == 1
    assert samples[("invoicebot_suppressed_addresses", ())] == 1


async def test_metrics_refuse_a_local_client_without_the_token_and_are_off_without_the_setting(start_web: StartWeb):
    # Behind a local reverse proxy every request comes from 127.0.0.1: the address proves nothing.
    configured = await start_web(INVOICEBOT_METRICS_TOKEN=METRICS_TOKEN)
    unconfigured = await start_web()

    async with httpx.AsyncClient() as client:
        answers = {
            "no token": await client.get(f"{configured.url}/metrics"),
            "wrong token": await client.get(f"{configured.url}/metrics", headers={"Authorization": "Bearer nope"}),
            "basic auth": await client.get(f"{configured.url}/metrics", auth=("user", METRICS_TOKEN)),
            "forwarded local": await client.get(f"{configured.url}/metrics", headers={"X-Forwarded-For": "127.0.0.1"}),
            "off": await client.get(f"{unconfigured.url}/metrics", headers=BEARER),
            "lower-case scheme": await client.get(
                f"{configured.url}/metrics", headers={"Authorization": f"bearer {METRICS_TOKEN}"}
            ),
        }

    statuses = {how: answer.status_code for how, answer in answers.items()}
    assert statuses == {
        "no token": 401,
        "wrong token": 401,
        "basic auth": 401,
        "forwarded local": 401,
        "off": 404,
        "lower-case scheme": 200,
    }
    assert "invoicebot" not in answers["no token"].text
