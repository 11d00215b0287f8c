"""What DKIM signing adds to each invoice email: 200 real invoice messages composed, then composed and signed.

Baseline, measured in the same run: rendering the message as the worker's render processes do
without a key (the invoice PDF + UBL attachments, the HTML body, the MIME bytes). The ratio is
the render cost with signing over the cost without; signing runs in the render processes, so it
slows the bulk send path by at most that ratio's share of the render half.

    .venv/bin/python -m benchmarks.dkim_sign [--messages 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks.render_pdf import sample
from services.documents.pdf import render_invoice_pdf
from services.documents.ubl import render_invoice_ubl
from services.email.dkim import load_dkim_key, sign_message
from services.email.message import Attachment, OutgoingEmail, compose_message_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    count = min(max(parser.parse_args().messages, 1), 10_000)
    document = sample(20)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dkim.pem"
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        key = load_dkim_key(str(path), selector="bench", domain="example.com")

    def render() -> bytes:
        files = [
            Attachment("INV.pdf", render_invoice_pdf(document), "application/pdf"),
            Attachment("INV.xml", render_invoice_ubl(document), "application/xml"),
        ]
        email = OutgoingEmail(
            from_addr="invoices@example.com", from_name="Example Trading", reply_to=None, to=["ap@acme.example"],
            cc=[], bcc=[], subject="Invoice INV-2026-0042", text="Please find attached…\n" * 10,
            html="<p>Please find attached…</p>", attachments=files, message_id="<bench@example.com>",
            correlation_id="bench",
        )  # fmt: skip
        return compose_message_bytes(email)

    size = len(render())
    started = time.perf_counter()
    for _ in range(count):
        render()
    plain = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(count):
        sign_message(render(), key)
    signed = time.perf_counter() - started
    print(f"{count} invoice emails of {size / 1024:.0f} KiB, one process")
    print(f"  baseline (render, no key): {plain / count * 1000:6.1f} ms each")
    print(f"  render + DKIM signature:   {signed / count * 1000:6.1f} ms each")
    print(f"  signature alone:           {(signed - plain) / count * 1000:6.1f} ms; ratio {signed / plain:.2f}")


if __name__ == "__main__":
    main()
