"""The authorisation table itself: every action, a user of each role and one with none."""

import pytest

from services.authorization import OPERATOR, PERMISSIONS, Action, ApprovalRules, Role, authorize, roles_of, who_may
from services.errors import NotAllowed

RULES = ApprovalRules(senders=frozenset({"USENDER"}), approvers=frozenset({"UAPPROVER"}), admins=frozenset({"UADMIN"}))
USER_OF_ROLE = {Role.SENDER: "USENDER", Role.APPROVER: "UAPPROVER", Role.ADMIN: "UADMIN"}

EXPECTED = {
    Action.VALIDATE: {"USENDER", "UADMIN"},
    Action.MARK_SENT: {"USENDER", "UADMIN"},
    Action.MARK_PAID: {"USENDER", "UADMIN"},
    Action.RECORD_PAYMENT: {"USENDER", "UADMIN"},
    Action.VOID: {"USENDER", "UADMIN"},
    Action.SEND: {"USENDER", "UADMIN"},
    Action.FIX_ADDRESS: {"USENDER", "UADMIN"},
    Action.APPROVE: {"UAPPROVER"},
    Action.REJECT: {"UAPPROVER"},
    Action.CANCEL: {"UAPPROVER", "UADMIN"},
    Action.LIFT_SUPPRESSION: {"UADMIN"},
    Action.REVOKE_LINK: {"UADMIN"},
    Action.CHANGE_TEMPLATES: {"UADMIN"},
    Action.CHANGE_SETTINGS: {"UADMIN"},
    Action.PAUSE_REMINDERS: {"USENDER", "UADMIN"},
    Action.PROMISE_TO_PAY: {"USENDER", "UADMIN"},
    Action.DISPUTE: {"USENDER", "UADMIN"},
}


def test_every_action_has_one_row_in_the_table():
    assert set(PERMISSIONS) == set(Action) == set(EXPECTED)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("user", ["USENDER", "UAPPROVER", "UADMIN", "UNOBODY"])
def test_each_role_may_do_exactly_what_the_table_says(action, user):
    if user in EXPECTED[action]:
        authorize(RULES, user, action)
    else:
        with pytest.raises(NotAllowed, match=r"^You can't .*only .* can"):
            authorize(RULES, user, action)


def test_the_refusal_names_the_role_needed():
    with pytest.raises(NotAllowed, match="only senders can; ask an admin to add you to the senders"):
        authorize(RULES, "UNOBODY", Action.VALIDATE)
    with pytest.raises(NotAllowed, match="only admins can"):
        authorize(RULES, "USENDER", Action.LIFT_SUPPRESSION)


def test_everyone_is_a_sender_when_no_sender_is_listed():
    assert Role.SENDER in roles_of(ApprovalRules(), "UANYONE")
    authorize(ApprovalRules(), "UANYONE", Action.MARK_SENT)
    with pytest.raises(NotAllowed):
        authorize(ApprovalRules(), "UANYONE", Action.LIFT_SUPPRESSION)


def test_admins_approve_only_when_no_approver_is_listed():
    authorize(ApprovalRules(admins=frozenset({"UADMIN"})), "UADMIN", Action.APPROVE)
    with pytest.raises(NotAllowed):
        authorize(RULES, "UADMIN", Action.APPROVE)


@pytest.mark.parametrize("action", [Action.APPROVE, Action.REJECT])
def test_nobody_decides_their_own_request(action):
    with pytest.raises(NotAllowed, match="You asked for this send"):
        authorize(RULES, "UAPPROVER", action, requested_by="UAPPROVER")
    authorize(RULES, "UAPPROVER", action, requested_by="USENDER")


def test_the_requester_may_always_cancel_their_own_send():
    authorize(RULES, "UNOBODY", Action.CANCEL, requested_by="UNOBODY")
    with pytest.raises(NotAllowed, match="only the person who asked for it"):
        authorize(RULES, "UNOBODY", Action.CANCEL, requested_by="USENDER")


@pytest.mark.parametrize("action", list(Action))
def test_the_cli_operator_may_do_everything(action):
    authorize(RULES, OPERATOR, action)


def test_who_may_approve_a_request_never_includes_its_asker():
    assert who_may(RULES, Action.APPROVE, requested_by="USENDER") == {"UAPPROVER"}
    assert who_may(RULES, Action.APPROVE, requested_by="UAPPROVER") == frozenset()
    admins_only = ApprovalRules(admins=frozenset({"UADMIN", "UADMIN2"}))
    assert admins_only.approvers_for("UADMIN") == {"UADMIN2"}
