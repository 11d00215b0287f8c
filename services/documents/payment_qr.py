"""The EPC QR code ("GiroCode", EPC069-12 version 002, BCD / SCT) of a payable EUR invoice.

A banking app scans it and fills in a SEPA credit transfer: the beneficiary (the account
holder), the IBAN, the BIC, the amount and the payment reference. segno builds the payload and
the symbol (error correction M, at most version 13, as the standard requires); this module only
decides when there is one and what goes in it, so the PDF and the link page show the same code.

There is none for another currency (SEPA transfers are in euros), without an IBAN, or for an
amount outside what the standard can carry (0.01 to 999,999,999.99). An RF creditor reference
goes in the structured remittance field (the standard's field for ISO 11649); a Belgian
structured communication, which is not ISO 11649, goes in the unstructured text as
`+++…+++`, the way Belgian banks read it from a transfer's message.
"""

from __future__ import annotations

from decimal import Decimal

import segno
from segno import helpers

from services.documents.model import InvoiceDocument

EPC_CURRENCY = "EUR"
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999.99")
MAX_NAME = 70  # EPC069-12: the beneficiary's name


def epc_qr(document: InvoiceDocument) -> segno.QRCode | None:
    """The document's EPC QR code, or None when it cannot have one (see the module's docstring)."""
    payment = document.payment
    if document.currency != EPC_CURRENCY or not payment.iban:
        return None
    if not MIN_AMOUNT <= document.total <= MAX_AMOUNT:
        return None
    name = (payment.account_holder or document.seller.name).strip()[:MAX_NAME]
    reference = "".join(payment.reference.split())
    structured = reference.startswith("RF")
    return helpers.make_epc_qr(
        name=name,
        iban=payment.iban.replace(" ", ""),
        amount=document.total,
        reference=reference if structured else None,
        text=None if structured else payment.reference,
        bic=payment.bic or None,
    )


def epc_qr_data_uri(document: InvoiceDocument) -> str | None:
    """The code as an SVG `data:` URI for the link page's `<img>` (its Content-Security-Policy
    allows `data:` images and no inline style), or None."""
    code = epc_qr(document)
    return None if code is None else str(code.svg_data_uri(scale=4))
