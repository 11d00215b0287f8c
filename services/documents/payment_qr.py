"""The EPC QR code ("GiroCode", EPC069-12 version 002, BCD / SCT) of a payable EUR invoice.

A banking app scans it and fills in a SEPA credit transfer: the beneficiary (the account
holder), the IBAN, the BIC, the amount and the payment reference. This module decides when
there is one and what goes in it (`epc_payload`, the standard's twelve lines), so the PDF and
the link page show the same code; zxing-cpp encodes the symbol (error correction M, as the
standard requires).

Why zxing-cpp and not segno: the code is drawn on every EUR invoice a bulk send renders, and
segno (pure Python, which evaluates all eight masks) took about 6 ms a code, some 40 % of a whole
invoice PDF; zxing-cpp's C++ encoder takes about 0.2 ms. The payload is written here because
segno's builder of it is private; the standard's rules it needs are few and listed below.

There is none for another currency (SEPA transfers are in euros), without an IBAN, or for an
amount outside what the standard can carry (0.01 to 999,999,999.99). An RF creditor reference
goes in the structured remittance field (the standard's field for ISO 11649); a Belgian
structured communication, which is not ISO 11649, goes in the unstructured text as
`+++…+++`, the way Belgian banks read it from a transfer's message.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import zxingcpp

from services.documents.model import InvoiceDocument

EPC_CURRENCY = "EUR"
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999.99")
MAX_NAME = 70  # EPC069-12: the beneficiary's name
MAX_REFERENCE = 35  # the structured (ISO 11649) remittance information
MAX_TEXT = 140  # the unstructured remittance information
QUIET_ZONE = 4  # modules of white around the symbol (ISO/IEC 18004)


@dataclass(frozen=True)
class QrSymbol:
    """The code's modules, row by row (True: dark), without its quiet zone."""

    rows: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> int:
        """Modules across, quiet zone included."""
        return len(self.rows) + 2 * QUIET_ZONE

    def dark_runs(self) -> list[tuple[int, int, int]]:
        """(row, first column, length) of every run of dark modules, quiet zone included in the
        coordinates: the PDF and the SVG each draw one rectangle a run, not a square a module."""
        runs: list[tuple[int, int, int]] = []
        for y, row in enumerate(self.rows):
            start = None
            for x, dark in enumerate((*row, False)):
                if dark and start is None:
                    start = x
                elif not dark and start is not None:
                    runs.append((y + QUIET_ZONE, start + QUIET_ZONE, x - start))
                    start = None
        return runs

    @property
    def svg_data_uri(self) -> str:
        """A white square with the dark runs as one path, scaled by the `<img>` (viewBox in modules)."""
        path = "".join(f"M{x} {y}h{length}v1h-{length}z" for y, x, length in self.dark_runs())
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.size} {self.size}" '
            f'shape-rendering="crispEdges"><rect width="{self.size}" height="{self.size}" fill="#fff"/>'
            f'<path d="{path}" fill="#000"/></svg>'
        )
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("ascii")).decode("ascii")


def epc_payload(document: InvoiceDocument) -> str | None:
    """The EPC069-12 version 002 text of the document's transfer, or None when it has no code.

    Lines: service tag BCD, version 002, character set 1 (UTF-8), SCT, BIC (optional), name,
    IBAN, amount as EUR with two decimals, purpose (empty), then either the structured reference
    or the unstructured text; trailing empty lines are left out, as the standard allows. The amount
    is what is still due: the total less the payments recorded (`InvoiceDocument.balance_due`).
    """
    payment = document.payment
    if document.is_credit_note or document.currency != EPC_CURRENCY or not payment.iban:  # a credit asks no payment
        return None
    due = document.balance_due
    if not MIN_AMOUNT <= due <= MAX_AMOUNT:
        return None
    name = " ".join((payment.account_holder or document.seller.name).split())[:MAX_NAME]
    reference = "".join(payment.reference.split())
    structured = reference.startswith("RF") and len(reference) <= MAX_REFERENCE
    lines = [
        "BCD",
        "002",
        "1",
        "SCT",
        (payment.bic or "").replace(" ", ""),
        name,
        payment.iban.replace(" ", ""),
        f"{EPC_CURRENCY}{due:.2f}",
        "",
        reference if structured else "",
        "" if structured else payment.reference.strip()[:MAX_TEXT],
    ]
    return "\n".join(lines).rstrip("\n")


def epc_qr(document: InvoiceDocument) -> QrSymbol | None:
    """The document's EPC QR code, or None when it cannot have one (see `epc_payload`)."""
    payload = epc_payload(document)
    if payload is None:
        return None
    code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    bitmap: Any = code.to_image(add_quiet_zones=False)  # a buffer (its stubs do not say so): a byte a module
    image: list[list[int]] = memoryview(bitmap).tolist()  # type: ignore[assignment]  # 2-D: rows of bytes, 0 dark
    return QrSymbol(rows=tuple(tuple(module < 128 for module in row) for row in image))


def epc_qr_data_uri(document: InvoiceDocument) -> str | None:
    """The code as an SVG `data:` URI for the link page's `<img>` (its Content-Security-Policy
    allows `data:` images and no inline style), or None."""
    code = epc_qr(document)
    return None if code is None else code.svg_data_uri
