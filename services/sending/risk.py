"""The risk rule: a send to recipients nobody checked before waits for an approver.

An organisation turns it on in its settings (`approve_new_recipients`). A send then asks for
approval when it goes to an email domain this customer was never sent to (a first send, or a
typo like `acme.exmaple`), or when its recipients differ from those of the customer's last
delivered invoice email (someone replaced the accounts-payable address). The organisation's
own copies (its Cc/Bcc archive addresses) are not the customer's and are left out. The answer
is a sentence, shown in the review modal before the send and kept with the request's audit.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Customer, Delivery, DeliveryKind, DeliveryStatus, Invoice
from services.email.addresses import suppression_key
from services.invoicing.settings_store import organisation_copies

# Accepted by the relay, and not bounced since: the customer got these recipients before.
DELIVERED = (DeliveryStatus.ACCEPTED, DeliveryStatus.DELIVERED, DeliveryStatus.OPENED)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


async def recipient_risk(
    session: AsyncSession, *, organisation_id: int, customer: Customer, recipients: Iterable[str]
) -> str | None:
    """Why this send needs an approval under the risk rule ("new domain example.org for ACME"), or None."""
    own_cc, own_bcc = await organisation_copies(session, organisation_id=organisation_id)
    own = {suppression_key(address) for address in (*own_cc, *own_bcc)}
    now = {suppression_key(address) for address in recipients} - own
    query = (
        select(Delivery.to, Delivery.cc)
        .join(Invoice, Invoice.id == Delivery.invoice_id)
        .where(
            Delivery.organisation_id == organisation_id,
            Invoice.customer_id == customer.id,
            Delivery.kind == DeliveryKind.INVOICE,
            Delivery.status.in_(DELIVERED),
        )
        .order_by(Delivery.id.desc())
    )
    before = [{suppression_key(a) for a in (*to, *cc)} - own for to, cc in (await session.execute(query)).all()]
    known_domains = {_domain(address) for sent in before for address in sent}
    new_domains = sorted({_domain(address) for address in now} - known_domains)
    if new_domains:
        return f"new domain {', '.join(new_domains)} for {customer.name}"
    if before and now != before[0]:
        added, removed = sorted(now - before[0]), sorted(before[0] - now)
        change = "; ".join(
            part
            for part in (
                f"added {', '.join(added)}" if added else "",
                f"removed {', '.join(removed)}" if removed else "",
            )
            if part
        )
        return f"recipients changed since the last delivered email to {customer.name} ({change})"
    return None
