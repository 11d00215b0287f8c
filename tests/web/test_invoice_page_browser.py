"""The invoice page in a real browser (headless Chromium): it loads, renders, and fits a phone.

Needs the Debian package `chromium` (/usr/bin/chromium); skipped with the reason when absent.
The screenshots are kept in the test's temporary directory (printed with `-s`), so a person
can look at them: set INVOICEBOT_SCREENSHOT_DIR to copy them somewhere stable.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
from pathlib import Path

import pytest
from lxml import html as lxml_html

from services.db.models import Delivery, Invoice
from tests.harness.processes import stopped
from tests.harness.web import WebApp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"
)

DESKTOP = (1280, 900)
PHONE = (390, 844)
BROWSER_SECONDS = 60


async def _chromium(profile: Path, *arguments: str) -> bytes:
    """Run headless Chromium once (bounded in time) and return what it printed on stdout."""
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=BROWSER_SECONDS)
    finally:
        await stopped(process)  # killed when it outlives its time (or the test is cancelled)
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


async def _screenshot(url: str, size: tuple[int, int], target: Path, profile: Path) -> Path:
    await _chromium(profile, f"--screenshot={target}", f"--window-size={size[0]},{size[1]}", url)
    keep = os.environ.get("INVOICEBOT_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(keep) / target.name)
    print(f"screenshot: {target}")
    return target


@pytest.mark.parametrize(("name", "size"), [("desktop", DESKTOP), ("phone", PHONE)])
async def test_page_renders_in_headless_chromium(
    web: WebApp, sent_invoice: tuple[Invoice, Delivery], tmp_path: Path, name: str, size: tuple[int, int]
) -> None:
    invoice, _ = sent_invoice
    url = f"{web.url}/i/{invoice.public_token}"

    shot = await _screenshot(url, size, tmp_path / f"invoice-page-{name}.png", tmp_path / "profile")

    assert _png_size(shot) == size
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank canvas


async def test_browser_dom_has_the_invoice(web: WebApp, sent_invoice: tuple[Invoice, Delivery], tmp_path: Path) -> None:
    invoice, _ = sent_invoice
    dom = await _chromium(tmp_path / "profile", "--dump-dom", f"{web.url}/i/{invoice.public_token}")

    tree = lxml_html.fromstring(dom)
    assert tree.xpath("//h1/text()") == ["Invoice INV-2026-0042"]
    assert tree.xpath("//article/@data-invoice-number") == ["INV-2026-0042"]
    assert "Acme Corp <Europe> & Co" in tree.text_content()
