"""The payments import as a use case: the lines `services.importing.payments` read, each recorded
like a single payment by `services.invoicing.payments.record_payment`, in its own unit of work.

It sits beside services.use_cases, over both contexts: importing reads files and knows no
invoicing rule; invoicing records payments and knows no file. A line that is refused is
listed with its sentence and the others are still recorded; a line recorded before (its
idempotency key, held by a unique constraint) is counted as such and written no second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from sqlalchemy.exc import IntegrityError

from services.authorization import ApprovalRules
from services.db.models import PaymentSource
from services.errors import DomainError
from services.importing.limits import ImportLimits, Problem
from services.importing.payments import PaymentImport, read_payment_lines
from services.invoicing.payments import PaymentRequest, invoice_for_reference, record_payment
from services.unit_of_work import UnitsOfWork


@dataclass(frozen=True)
class PaymentImportRun:
    """Who imports, for which organisation, under which rules."""

    units: UnitsOfWork
    organisation_id: int
    rules: ApprovalRules
    actor: str
    limits: ImportLimits | None = None


async def import_payments(run: PaymentImportRun, stream: TextIO) -> PaymentImport:
    """Record every matched line (each its own transaction); list the others with their sentence."""
    result = PaymentImport()
    payments = read_payment_lines(stream, result.problems, run.limits)
    result.lines = len(payments) + result.problems.count
    for payment in payments:
        try:
            async with run.units() as unit:
                number = payment.invoice_number or await invoice_for_reference(
                    unit.session, organisation_id=run.organisation_id, reference=payment.reference
                )
                request = PaymentRequest(
                    number=number, amount=payment.amount, paid_on=payment.paid_on, actor=run.actor,
                    source=PaymentSource.IMPORT, reference=payment.reference,
                    idempotency_key=payment.idempotency_key(number),
                )  # fmt: skip
                recorded = await record_payment(
                    unit.session, organisation_id=run.organisation_id, rules=run.rules, request=request
                )
        except IntegrityError:  # the same line, recorded by an import running at the same moment
            result.repeated.append(payment.line)
            continue
        except DomainError as refused:
            result.problems.append(Problem(payment.line, str(refused)))
            continue
        if recorded.created:
            result.recorded.append((payment.line, recorded))
        else:
            result.repeated.append(payment.line)
    return result
