"""The database, as typed SQLAlchemy 2 models: one module per context over one metadata.

Every row belongs to an organisation. Names follow ../shared/DESIGN.md: invoice, customer,
delivery, delivery event, suppression, approval, notification, audit log. `Base.metadata`
(services.db.models.base) is the one metadata; importing this package imports every table
module, so Alembic's env and `create_all` see the whole schema, and
`from services.db.models import X` stays the one way callers name a model.
"""

from services.clock import utcnow
from services.db.models.base import NAMING_CONVENTION, Base, Money, UtcDateTime, money_sum, new_public_token
from services.db.models.installations import TOKEN_COLUMNS, slack_bots, slack_installations, slack_oauth_states
from services.db.models.invoicing import (
    PAYMENT_REFERENCE_LENGTH,
    Customer,
    Invoice,
    InvoiceLine,
    Organisation,
    OrganisationSettingsRow,
    Payment,
    PaymentSource,
)
from services.db.models.periods import PeriodClaim
from services.db.models.reminders import (
    CustomerReminderState,
    InvoiceReminderState,
    Reminder,
    ReminderInvoice,
    ReminderState,
    ReminderStep,
    ReminderTone,
)
from services.db.models.sending import Approval, Delivery, DocumentValidation
from services.db.models.sent_messages import (
    DeliveryAttachment,
    SentBlob,
    SentMessage,
    SentMessageBlob,
    StoredFile,
)
from services.db.models.shared import (
    AuditLog,
    EmailText,
    HomeChange,
    HomeViewer,
    LoopHeartbeat,
    Notification,
    TemplateOverride,
)
from services.db.models.statuses import (
    UNSENT_PREDICATE,
    ApprovalDecision,
    Attachments,
    DeliveryKind,
    DeliveryStatus,
    DocumentKind,
    InvoiceStatus,
    NotificationStatus,
    SentVia,
    SmtpStatus,
)
from services.db.models.tracking import DeliveryEvent, RevokedInvoiceLink, Suppression, WebhookReceipt

__all__ = [
    "NAMING_CONVENTION",
    "PAYMENT_REFERENCE_LENGTH",
    "TOKEN_COLUMNS",
    "UNSENT_PREDICATE",
    "Approval",
    "ApprovalDecision",
    "Attachments",
    "AuditLog",
    "Base",
    "Customer",
    "CustomerReminderState",
    "Delivery",
    "DeliveryAttachment",
    "DeliveryEvent",
    "DeliveryKind",
    "DeliveryStatus",
    "DocumentKind",
    "DocumentValidation",
    "EmailText",
    "HomeChange",
    "HomeViewer",
    "Invoice",
    "InvoiceLine",
    "InvoiceReminderState",
    "InvoiceStatus",
    "LoopHeartbeat",
    "Money",
    "Notification",
    "NotificationStatus",
    "Organisation",
    "OrganisationSettingsRow",
    "Payment",
    "PaymentSource",
    "PeriodClaim",
    "Reminder",
    "ReminderInvoice",
    "ReminderState",
    "ReminderStep",
    "ReminderTone",
    "RevokedInvoiceLink",
    "SentBlob",
    "SentMessage",
    "SentMessageBlob",
    "SentVia",
    "SmtpStatus",
    "StoredFile",
    "Suppression",
    "TemplateOverride",
    "UtcDateTime",
    "WebhookReceipt",
    "money_sum",
    "new_public_token",
    "slack_bots",
    "slack_installations",
    "slack_oauth_states",
    "utcnow",
]
