"""The daily digest message (and its weekly summary): a pure builder of the digest's payload.

The payload is what services/digest.py wrote into the notification row (amounts already
written in the team's locale), so this only arranges it: a header with the day (and, when the
post is a catch-up, that it is late and how many days were missed), due today, still to send,
what is owed by age with totals per currency, the problems, sent and paid since the previous
digest, and on its day the week's summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.blocks.elements import Block, context_block, escape, section
from handlers.ids import COMMAND


def _money(amounts: Sequence[str]) -> str:
    return ", ".join(amounts) if amounts else "nothing"


def _counted_words(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _counted(part: Mapping[str, Any], noun: str) -> str:
    return f"{_counted_words(int(part.get('count') or 0), noun)} ({_money(part.get('amounts') or [])})"


def _headline(payload: Mapping[str, Any]) -> str:
    day = str(payload.get("day", ""))
    if not payload.get("late"):
        return f"*Daily digest — {day}*"
    missed = int(payload.get("missed_days") or 0)
    if not missed:
        return f"*Daily digest — {day}* (late: due at {payload.get('due_at', '?')}, the bot was not running then)"
    days = f"{missed} day{'' if missed == 1 else 's'}"
    return (
        f"*Daily digest — {day}* (late: posted after an outage; the digests of the {days} before were missed;"
        " sent and paid cover everything since the last one)"
    )


def _aging(payload: Mapping[str, Any]) -> str:
    lines = [f"*Owed by age* — total {_money(payload.get('owed') or [])}"]
    for bucket in payload.get("aging") or []:
        name = bucket.get("bucket", "")
        label = "current (not yet due)" if name == "current" else f"{name} days overdue"
        lines.append(f"• {label}: {_counted(bucket, 'invoice')}")
    return "\n".join(lines)


def _problems(payload: Mapping[str, Any]) -> str:
    problems = payload.get("problems") or {}
    count = int(problems.get("count") or 0)
    if not count:
        return "*Problems* — none: no email bounced, failed or is in doubt."
    more = "+" if problems.get("more") else ""
    lines = [f"*Problems* — {count}{more} email{'' if count == 1 else 's'} need a person (`{COMMAND} problems`)"]
    for item in problems.get("items") or []:
        number, customer = escape(str(item.get("number"))), escape(str(item.get("customer")))
        to = escape(", ".join(item.get("to") or []))
        what = f"Reminder for {number}" if item.get("reminder") else number
        lines.append(f"• {what} {customer} → {to}: {item.get('status')}")
    return "\n".join(lines)


def _weekly(weekly: Mapping[str, Any]) -> str:
    rate = weekly.get("bounce_rate")
    days = weekly.get("average_days_to_pay")
    return "\n".join(
        [
            "*Weekly summary* — the last 7 days",
            f"• Collected: {_money(weekly.get('collected') or [])}",
            f"• Invoices sent: {int(weekly.get('sent') or 0)}",
            f"• Bounce rate: {rate} % ({weekly.get('bounced', 0)} of {weekly.get('handed_over', 0)} emails)"
            if rate is not None
            else "• Bounce rate: no emails handed over",
            f"• Average days to pay: {days} ({_counted_words(int(weekly.get('paid_invoices') or 0), 'invoice')} paid)"
            if days is not None
            else "• Average days to pay: no invoice paid",
        ]
    )


def digest_message(payload: Mapping[str, Any]) -> tuple[str, list[Block]]:
    """The fallback text and the blocks of one digest."""
    headline = _headline(payload)
    blocks = [
        section(headline),
        section(
            f"*Due today*: {_counted(payload.get('due_today') or {}, 'invoice')}\n"
            f"*Still to send*: {int(payload.get('to_send') or 0)} due invoice(s) not sent yet (`{COMMAND} due`)"
        ),
        section(_aging(payload)),
        section(_problems(payload)),
        section(
            f"*Since the last digest*: sent {_counted(payload.get('sent') or {}, 'invoice')}; "
            f"paid {_counted(payload.get('paid') or {}, 'payment')}"
        ),
    ]
    weekly = payload.get("weekly")
    if weekly:
        blocks.append(section(_weekly(weekly)))
    blocks.append(context_block(f"As of {payload.get('as_of', '')} · time zone {payload.get('time_zone', 'UTC')}"))
    return headline.replace("*", ""), blocks
