"""The App Home tab as the team's dashboard: a pure function of `services.home_dashboard.Dashboard`.

Sections, in the order a finance person acts on them: *Waiting for my approval* (each with the
approval request's own *Approve* / *Reject* buttons, handled by handlers.approvals), *Needs
attention*, *Due today and overdue* (amounts by age, per currency), *Scheduled*, *Recently sent*.
Slack shows at most 100 blocks on App Home and 3,000 characters in a section: each section shows
a few rows and says "and N more — `/invoices …`"; `within_limits` is the last guard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from handlers.blocks.approvals import approval_buttons
from handlers.blocks.deliveries import summary_head, summary_status
from handlers.blocks.elements import Block, clip, context_block, escape, help_blocks, plain_text, section, who
from handlers.ids import COMMAND, ActionId
from services.formatting import format_moment
from services.home_dashboard import Dashboard, Rows
from services.invoicing.aging import BUCKETS
from services.tracking.precedence import HELD_PREFIX
from services.tracking.status import DeliverySummary

MAX_BLOCKS = 100
MAX_SECTION_CHARS = 3000


@dataclass(frozen=True, kw_only=True)
class HomeHeader:
    """What the top of the tab says besides the dashboard: the two counts, sending's state, admin."""

    due_count: int
    problem_count: int
    problems_capped: bool
    sending_problems: Sequence[str]
    admin: bool
    locale: str


def _status(summary: DeliverySummary) -> str:
    if summary.status == "failed" and (summary.detail or "").startswith(HELD_PREFIX):
        return "🛑 held: the e-invoice breaks a rule"
    return summary_status(summary)


def _line(summary: DeliverySummary, *, with_status: bool = True) -> str:
    words = f"• {summary_head(summary, customer_chars=60)}"
    return words + (f" — {_status(summary)}" if with_status else "")


def _more(rows: Rows[Any], command: str) -> list[Block]:
    return [context_block(f"and {rows.more} more — `{COMMAND} {command}`")] if rows.more else []


def _heading(text: str) -> Block:
    return {"type": "header", "text": plain_text(text, 150)}


def _lines_section(lines: Sequence[str], empty: str) -> Block:
    return section(clip("\n".join(lines), MAX_SECTION_CHARS) if lines else empty)


def _waiting(dashboard: Dashboard, locale: str) -> list[Block]:
    if not dashboard.may_approve:
        return []
    rows = dashboard.waiting_for_me
    blocks: list[Block] = [_heading("Waiting for my approval")]
    if not rows.shown:
        blocks.append(section("Nothing waits for you ✅"))
    for summary in rows.shown:
        asked = f"asked by {who(summary.requested_by)} {format_moment(summary.created_at, locale)}"
        blocks.append(section(_line(summary, with_status=False) + f"\n{asked}"))
        blocks.append(approval_buttons(summary.delivery_id))
    return blocks + _more(rows, "sent")


def _attention(dashboard: Dashboard, locale: str) -> list[Block]:
    lines = [_line(summary) for summary in dashboard.problems.shown]
    lines += [
        f"• 🚫 {escape(line.email)} is suppressed ({escape(line.reason.replace('_', ' '))}, "
        f"{format_moment(line.since, locale)})"
        for line in dashboard.suppressed.shown
    ]
    for source in dashboard.other_attention:  # silent emails and any later source
        lines += [f"• {escape(line.text)}" for line in source.shown]
    blocks = [_heading("Needs attention"), _lines_section(lines, "Nothing needs a person ✅")]
    blocks += _more(dashboard.problems, "problems")
    if dashboard.suppressed.more:
        blocks.append(context_block(f"and {dashboard.suppressed.more} more suppressed addresses"))
    return blocks


def _aging(dashboard: Dashboard) -> list[Block]:
    blocks = [_heading("Due today and overdue")]
    if not dashboard.aging:
        return [*blocks, section("Nothing is overdue 🎉")]
    for currency in dashboard.aging:
        parts = [
            f"{label}: {amount} ({count})"
            for label, amount, count in zip(BUCKETS, currency.buckets, currency.counts, strict=True)
            if count
        ]
        blocks.append(section(f"*{currency.total}* owed — " + " · ".join(parts)))
    count = dashboard.overdue_count
    blocks.append(context_block(f"{count} invoice{'s' if count != 1 else ''} due today or earlier and not fully paid"))
    return blocks


def _listing(title: str, rows: Rows[DeliverySummary], *, empty: str, command: str) -> list[Block]:
    return [_heading(title), _lines_section([_line(s) for s in rows.shown], empty), *_more(rows, command)]


def within_limits(blocks: list[Block]) -> list[Block]:
    """At most MAX_BLOCKS blocks: the last kept one says how many were left out."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    left_out = len(blocks) - (MAX_BLOCKS - 1)
    return [*blocks[: MAX_BLOCKS - 1], context_block(f"and {left_out} more blocks — `{COMMAND} help`")]


def dashboard_view(header: HomeHeader, dashboard: Dashboard) -> dict[str, Any]:
    """The App Home view one person sees."""
    due = header.due_count
    problems = header.problem_count
    more = "+" if header.problems_capped else ""
    due_words = "Nothing is due 🎉" if not due else f"*{due}* invoice{'s' if due != 1 else ''} to send"
    other_attention = bool(dashboard.suppressed.shown) or any(source.shown for source in dashboard.other_attention)
    if problems:
        needing = "email needs" if problems == 1 and not more else "emails need"
        problem_words = f"*{problems}{more}* {needing} a person — `{COMMAND} problems` shows them."
    elif other_attention:  # never "all is well" above a list of suppressed addresses or silent emails
        problem_words = "No email failed; what needs a look is under *Needs attention* below."
    else:
        problem_words = "No email needs a person ✅"
    blocks: list[Block] = [
        _heading("invoicebot"),
        section(f"{due_words} — `{COMMAND} due` lists them.\n{problem_words}"),
    ]
    if header.sending_problems:
        blocks.append(section("⚠️ Sending is not ready: " + escape("; ".join(header.sending_problems))))
    if header.admin:
        button = {
            "type": "button",
            "action_id": ActionId.OPEN_SETTINGS,
            "text": plain_text("Settings"),
            "value": "open",
        }
        blocks.append({"type": "actions", "block_id": "home_admin", "elements": [button]})
    blocks += _waiting(dashboard, header.locale)
    blocks += _attention(dashboard, header.locale)
    blocks += _aging(dashboard)
    blocks += _listing("Scheduled", dashboard.scheduled, empty="Nothing waits to go out.", command="sent")
    blocks += _listing("Recently sent", dashboard.recent, empty="Nothing sent yet.", command="sent")
    blocks += [{"type": "divider"}, *help_blocks()]
    return {"type": "home", "blocks": within_limits(blocks)}
