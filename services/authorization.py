"""Who may do what: one table from every state-changing action to the roles that may do it.

Each service that changes state calls `authorize(rules, user, action)` before it writes
anything (and before it reads, unless the rule needs to know who asked), so the check holds
whatever surface asked (a Slack button, a modal, the CLI, a future web page); handlers never
decide. A refusal is `NotAllowed` with a sentence that names what the person needs.

Roles come from settings through `ApprovalRules` (below) (INVOICEBOT_SENDERS / _APPROVERS / _ADMINS):
- sender: everyone when no sender is listed, else the listed senders and the admins;
- approver: the listed approvers, or the admins when no approver is listed;
- admin: the listed admins.

The four-eyes rule lives here too: an action may say that the person who asked for the
thing may never do it (approve, reject) or may always do it (cancel their own send).

The CLI runs as `OPERATOR`: whoever runs it already holds the database and the settings,
so it may do everything, and its changes are audited under that name. A Slack user id
(`U…`, `W…`) can never be `OPERATOR`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from services.errors import NotAllowed

OPERATOR = "cli"
# Autosend asks for sends by itself (services/sending/autosend.py): a sender, never an approver,
# so the approval policy still applies to what it asks for.
AUTOSEND = "autosend"
# The reminder scheduler asks for reminder emails by itself (services/reminders/dispatch.py): like
# autosend, a sender and never an approver.
REMINDERS = "reminders"


class Role(StrEnum):
    SENDER = "sender"
    APPROVER = "approver"
    ADMIN = "admin"


class Action(StrEnum):
    VALIDATE = "validate"
    MARK_SENT = "mark_sent"
    MARK_PAID = "mark_paid"
    RECORD_PAYMENT = "record_payment"
    VOID = "void"
    SEND = "send"
    FIX_ADDRESS = "fix_address"  # change the customer's addresses and resend
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    LIFT_SUPPRESSION = "lift_suppression"
    REVOKE_LINK = "revoke_link"
    CHANGE_TEMPLATES = "change_templates"
    CHANGE_SETTINGS = "change_settings"
    # Reminders (services/reminders/stop_requests.py): the senders' rule, like RECORD_PAYMENT, because
    # the people who record what a customer paid are the ones who hear it promise, pause or dispute.
    PAUSE_REMINDERS = "pause_reminders"  # pause a customer's reminders, or resume them
    PROMISE_TO_PAY = "promise_to_pay"
    DISPUTE = "dispute"  # mark an invoice disputed, or lift the dispute


class OwnRequest(StrEnum):
    """What having asked for the thing oneself changes."""

    NOTHING = "nothing"
    FORBIDS = "forbids"  # four eyes: never on one's own request
    ALLOWS = "allows"  # one may always withdraw one's own request


@dataclass(frozen=True)
class Permission:
    roles: frozenset[Role]
    refusal: str  # the sentence a person without any of `roles` reads
    own_request: OwnRequest = OwnRequest.NOTHING
    own_refusal: str = ""  # the sentence for one's own request when it forbids


_SENDERS = frozenset({Role.SENDER})
_APPROVERS = frozenset({Role.APPROVER})
_ADMINS = frozenset({Role.ADMIN})
_ASK_SENDER = "ask an admin to add you to the senders."
_ASK_ADMIN = "ask an admin to do it for you."

PERMISSIONS: dict[Action, Permission] = {
    Action.VALIDATE: Permission(_SENDERS, f"You can't validate invoices: only senders can; {_ASK_SENDER}"),
    Action.MARK_SENT: Permission(_SENDERS, f"You can't mark invoices as sent: only senders can; {_ASK_SENDER}"),
    Action.MARK_PAID: Permission(_SENDERS, f"You can't mark invoices as paid: only senders can; {_ASK_SENDER}"),
    Action.RECORD_PAYMENT: Permission(_SENDERS, f"You can't record payments: only senders can; {_ASK_SENDER}"),
    Action.VOID: Permission(_SENDERS, f"You can't void invoices: only senders can; {_ASK_SENDER}"),
    Action.SEND: Permission(_SENDERS, f"You can't send invoices: only senders can; {_ASK_SENDER}"),
    Action.FIX_ADDRESS: Permission(_SENDERS, f"You can't change addresses and resend: only senders can; {_ASK_SENDER}"),
    Action.APPROVE: Permission(
        _APPROVERS,
        "You can't approve this: only approvers can.",
        OwnRequest.FORBIDS,
        "You asked for this send, so someone else must approve it.",
    ),
    Action.REJECT: Permission(
        _APPROVERS,
        "You can't reject this: only approvers can.",
        OwnRequest.FORBIDS,
        "You asked for this send: cancel it instead of rejecting it.",
    ),
    Action.CANCEL: Permission(
        _APPROVERS | _ADMINS,
        "You can't cancel this send: only the person who asked for it, approvers and admins can.",
        OwnRequest.ALLOWS,
    ),
    Action.LIFT_SUPPRESSION: Permission(
        _ADMINS, f"You can't take an address off the suppression list: only admins can; {_ASK_ADMIN}"
    ),
    Action.REVOKE_LINK: Permission(_ADMINS, f"You can't revoke invoice links: only admins can; {_ASK_ADMIN}"),
    Action.CHANGE_TEMPLATES: Permission(
        _ADMINS, f"You can't change the email templates: only admins can; {_ASK_ADMIN}"
    ),
    Action.CHANGE_SETTINGS: Permission(_ADMINS, f"You can't change the settings: only admins can; {_ASK_ADMIN}"),
    Action.PAUSE_REMINDERS: Permission(
        _SENDERS, f"You can't pause or resume a customer's reminders: only senders can; {_ASK_SENDER}"
    ),
    Action.PROMISE_TO_PAY: Permission(_SENDERS, f"You can't record a promise to pay: only senders can; {_ASK_SENDER}"),
    Action.DISPUTE: Permission(
        _SENDERS, f"You can't mark invoices disputed or lift a dispute: only senders can; {_ASK_SENDER}"
    ),
}


class ApprovalPolicy(StrEnum):
    NEVER = "never"
    ABOVE_AMOUNT = "above_amount"
    ALWAYS = "always"


@dataclass(frozen=True)
class ApprovalRules:
    """The organisation's sending rules. Actor ids are Slack user ids such as "U123".

    No senders listed means everyone may send; no approvers listed means the admins approve.
    """

    senders: frozenset[str] = frozenset()
    approvers: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    policy: ApprovalPolicy | str = ApprovalPolicy.NEVER
    threshold: Decimal = Decimal(0)
    # The risk rule (services/sending/risk.py): also ask when a send goes to a domain the customer
    # was never sent to, or to recipients changed since its last delivered email.
    new_recipients: bool = False

    def may_send(self, user: str) -> bool:
        return not self.senders or user in self.senders or user in self.admins

    def may_approve(self, user: str) -> bool:
        return user in (self.approvers or self.admins)

    def needs_approval(self, total: Decimal) -> bool:
        """Whether a send of an invoice of this total waits for an approver (amount strictly above)."""
        policy = ApprovalPolicy(self.policy)
        if policy == ApprovalPolicy.ALWAYS:
            return True
        if policy == ApprovalPolicy.ABOVE_AMOUNT:
            return Decimal(total) > Decimal(self.threshold)
        return False

    def approvers_for(self, requester: str) -> frozenset[str]:
        """Who could approve a request of `requester`: the authorisation table decides (four eyes)."""
        return who_may(self, Action.APPROVE, requested_by=requester)


def roles_of(rules: ApprovalRules, user: str) -> frozenset[Role]:
    """The roles `user` holds under these rules (see the module doc for who holds which)."""
    if user == OPERATOR:
        return frozenset(Role)
    if user in (AUTOSEND, REMINDERS):
        return frozenset({Role.SENDER})
    roles: set[Role] = set()
    if rules.may_send(user):
        roles.add(Role.SENDER)
    if rules.may_approve(user):
        roles.add(Role.APPROVER)
    if user in rules.admins:
        roles.add(Role.ADMIN)
    return frozenset(roles)


def authorize(rules: ApprovalRules, user: str, action: Action, *, requested_by: str | None = None) -> None:
    """Return when `user` may do `action`, else raise `NotAllowed` saying what they need.

    `requested_by` is who asked for the thing acted on (a send waiting for approval), for
    the actions whose rule depends on it; the operator is held to four eyes like anyone.
    """
    permission = PERMISSIONS[action]
    own = requested_by is not None and user == requested_by
    if own and permission.own_request == OwnRequest.FORBIDS:
        raise NotAllowed(permission.own_refusal)
    if own and permission.own_request == OwnRequest.ALLOWS:
        return
    if not permission.roles & roles_of(rules, user):
        raise NotAllowed(permission.refusal)


def who_may(rules: ApprovalRules, action: Action, *, requested_by: str | None = None) -> frozenset[str]:
    """The people listed in the rules whom `authorize` lets do `action`, e.g. to name who
    can approve a request. Unlisted people are not counted, even when everyone is a sender."""
    listed = rules.senders | rules.approvers | rules.admins
    allowed: set[str] = set()
    for user in listed:
        try:
            authorize(rules, user, action, requested_by=requested_by)
        except NotAllowed:
            continue
        allowed.add(user)
    return frozenset(allowed)
