"""The App Home tab: what is due, what needs a person, and how to use `/invoices`.

Published when a person opens the tab (`app_home_opened`); the numbers come from the same
services as `/invoices due` and `/invoices problems`, so they never disagree.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.elements import home_view
from handlers.context import SessionFactory, Workplace
from handlers.review_policy import SendPolicy
from services.authorization import Role, roles_of
from services.sending.due import DueQuery, list_due_invoices
from services.tracking.status import list_problem_deliveries

PROBLEMS_COUNTED = 50


async def handle_app_home_opened(
    event: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    if event.get("tab", "home") != "home":
        return
    async with sessions() as session:
        due = await list_due_invoices(
            session,
            DueQuery(organisation_id=workplace.organisation_id, today=workplace.today, sending=workplace.sending),
            page_size=1,
        )
        problems = await list_problem_deliveries(
            session, organisation_id=workplace.organisation_id, limit=PROBLEMS_COUNTED
        )
    view = home_view(
        due_count=due.total_count,
        problem_count=len(problems),
        problems_capped=len(problems) >= PROBLEMS_COUNTED,
        sending_problems=[problem.message for problem in workplace.sending.problems()],
        admin=Role.ADMIN in roles_of(send_policy.send.rules, str(event["user"])),  # the *Settings* button
    )
    await client.views_publish(user_id=event["user"], view=view)


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(handle_app_home_opened)
