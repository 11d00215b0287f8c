"""The App Home tab: one person's dashboard (handlers/blocks/home.py), published when they open it
(`app_home_opened`, which also records them in the database) and again, debounced, when something
on it changed, by whichever process's notifier made the post (handlers/home_refresh.py, bot/home_refresh.py).

The counts at the top come from the same services as `/invoices due` and `/invoices problems`,
so they never disagree; the sections from services.home_dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.home import HomeHeader, dashboard_view
from handlers.context import SessionFactory, Workplace
from handlers.home_refresh import HomeViewers
from handlers.review_policy import SendPolicy
from services.authorization import ApprovalRules, Role, roles_of
from services.clock import utcnow
from services.home_dashboard import PROBLEMS_COUNTED, DashboardQuery, DashboardSources, load_dashboard
from services.home_viewers import record_home_opened
from services.sending.due import count_due_invoices


@dataclass(frozen=True, kw_only=True)
class HomeSubject:
    """Whose App Home, in which organisation: as a request saw it, or as bot/home_refresh.py reads it now."""

    user_id: str
    workplace: Workplace
    rules: ApprovalRules
    sessions: SessionFactory
    client: AsyncWebClient
    sources: DashboardSources = field(default_factory=DashboardSources)


async def home_view_of(subject: HomeSubject) -> dict[str, Any]:
    """The view `subject.user_id` sees now."""
    workplace = subject.workplace
    async with subject.sessions() as session:
        due_count = await count_due_invoices(session, organisation_id=workplace.organisation_id, today=workplace.today)
        dashboard = await load_dashboard(
            session,
            DashboardQuery(
                organisation_id=workplace.organisation_id,
                user_id=subject.user_id,
                rules=subject.rules,
                today=workplace.today,
                locale=workplace.locale,
            ),
            subject.sources,
        )
    header = HomeHeader(
        due_count=due_count,
        problem_count=dashboard.problems.total,
        problems_capped=dashboard.problems.total >= PROBLEMS_COUNTED,
        sending_problems=[problem.message for problem in workplace.sending.problems()],
        admin=Role.ADMIN in roles_of(subject.rules, subject.user_id),  # the *Settings* button
        locale=workplace.locale,
    )
    return dashboard_view(header, dashboard)


async def publish_home(subject: HomeSubject) -> None:
    await subject.client.views_publish(user_id=subject.user_id, view=await home_view_of(subject))


async def handle_app_home_opened(
    event: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
    home_viewers: HomeViewers | None = None,
) -> None:
    """Remember who has App Home (in the database: any process's notifier republishes it), then publish."""
    if event.get("tab", "home") != "home":
        return
    user_id = str(event["user"])
    await record_home_opened(sessions, organisation_id=workplace.organisation_id, user_id=user_id, now=utcnow())
    subject = HomeSubject(
        user_id=user_id, workplace=workplace, rules=send_policy.rules, sessions=sessions, client=client
    )
    await publish_home(subject)
    if home_viewers is not None:  # this process's refresher debounces from this publish
        home_viewers.published(workplace.organisation_id, user_id)


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(handle_app_home_opened)
