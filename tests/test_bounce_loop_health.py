"""A worker without a bounce mailbox runs no bounce loop, and `/metrics` shows none (issue 13):
it used to register a "bounce mailbox" heartbeat that never ran and so looked healthy forever."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.bootstrap import Loop, Seams, bootstrap
from bot.config import load_settings
from bot.sandbox.folder_mailbox import FolderMailbox

TOKEN = "bounce-health-metrics-token"
LOOPS = [Loop.WORKER, Loop.BOUNCE_MAILBOX, Loop.UBL_VALIDATION]


async def loops_on_metrics(database_url, tmp_path, seams):
    settings = load_settings(
        DATABASE_URL=database_url,
        INVOICEBOT_SECRET_KEY="bounce-health-secret",
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_METRICS_TOKEN=TOKEN,
        INVOICEBOT_RENDER_PROCESSES="0",
    )
    runtime = bootstrap(settings, loops=LOOPS, seams=seams)
    try:
        transport = httpx.ASGITransport(app=runtime.web_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        await runtime.aclose()
    assert answer.status_code == 200, answer.text
    return {
        sample.labels["loop"]
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name == "invoicebot_loop_healthy"
    }


async def test_without_imap_there_is_no_bounce_mailbox_loop_on_metrics(database_url, tmp_path):
    loops = await loops_on_metrics(database_url, tmp_path, Seams())

    assert "bounce mailbox" not in loops
    assert {"worker", "ubl validation"} <= loops


async def test_with_a_mailbox_the_bounce_mailbox_loop_is_on_metrics(database_url, tmp_path):
    mailbox = FolderMailbox(tmp_path / "bounces").create()

    loops = await loops_on_metrics(database_url, tmp_path, Seams(mailbox=mailbox))

    assert "bounce mailbox" in loops
