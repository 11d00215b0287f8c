"""The payment reference of an invoice: the one place it is made and read back.

A customer's bank transfer carries the reference; it must lead back to exactly one invoice.
The default is an ISO 11649 structured creditor reference (`RF` + two check digits + the
payload); a seller in Belgium gets the Belgian structured communication instead
(`+++123/4567/89012+++`, ten digits and a mod-97 check), which Belgian banks expect.
Check digits are computed and verified by python-stdnum, never by hand.

The payload is the invoice's database id, not its number: the id never changes and is unique
across every organisation of the install, while a number is the organisation's own format
(which may change, and may hold letters an OGM cannot carry). Deriving it from the id keeps it
stable without a column; `invoice_id_of` reads it back from whatever a customer typed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum import iso11649
from stdnum.be import ogm_vcs
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_97_10

from services.db.models import Invoice

BELGIUM = "BE"
RF_PAYLOAD_DIGITS = 8  # padded so references look alike; longer ids simply grow (ISO 11649 allows 21)
OGM_BASE_DIGITS = 10  # the OGM's ten digits before its two check digits


def creditor_reference(invoice_id: int) -> str:
    """`RF` + check digits + the id (at least 8 digits), printed in blocks of four: `RF71 0000 0042`."""
    payload = str(invoice_id).rjust(RF_PAYLOAD_DIGITS, "0")
    return iso11649.format(f"RF{mod_97_10.calc_check_digits(payload + 'RF')}{payload}")


def belgian_reference(invoice_id: int) -> str:
    """The Belgian structured communication of the id: `+++000/0000/04242+++`."""
    base = str(invoice_id).rjust(OGM_BASE_DIGITS, "0")
    if len(base) > OGM_BASE_DIGITS:
        raise ValueError(f"invoice id {invoice_id} does not fit a Belgian structured communication")
    return f"+++{ogm_vcs.format(base + ogm_vcs.calc_check_digits(base))}+++"


def payment_reference(invoice_id: int, *, seller_country: str | None) -> str:
    """The reference printed on the invoice: the Belgian one for a Belgian seller, else RF."""
    if (seller_country or "").upper() == BELGIUM:
        return belgian_reference(invoice_id)
    return creditor_reference(invoice_id)


def compact_reference(text: str) -> str:
    """What a customer typed, without spaces, `+`, `/`, `-`, `.` and in capitals (how banks pass it on)."""
    return "".join(ch for ch in text.upper() if ch not in " +/-.\t\n")


def invoice_id_of(text: str) -> int | None:
    """The invoice id a typed reference (RF or Belgian, either accepted) carries; None when its
    check digits are wrong or it is neither kind."""
    compact = compact_reference(text)
    try:
        if compact.startswith("RF"):
            payload = iso11649.validate(compact)[4:]
        else:
            payload = ogm_vcs.validate(compact)[:OGM_BASE_DIGITS]
    except ValidationError:
        return None
    return int(payload) if payload.isdigit() and int(payload) > 0 else None


async def find_invoice_by_reference(session: AsyncSession, *, organisation_id: int, text: str) -> Invoice | None:
    """The organisation's invoice a customer's typed reference points at, or None (no such invoice,
    another organisation's, or a mistyped reference whose check digits fail)."""
    invoice_id = invoice_id_of(text)
    if invoice_id is None:
        return None
    found = await session.execute(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.organisation_id == organisation_id)
    )
    return found.scalar_one_or_none()
