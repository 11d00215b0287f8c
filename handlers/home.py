"""The App Home tab: one person's dashboard (handlers/blocks/home.py), published when they open it
(`app_home_opened`) and again, debounced, when something on it changed (handlers/home_refresh.py).

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
from services.home_dashboard import PROBLEMS_COUNTED, DashboardQuery, DashboardSources, load_dashboard
from services.sending.due import count_due_invoices


@dataclass(frozen=True, kw_only=True)
class HomeSubject:
    """Whose App Home, in which organisation, as the request that opened it saw them."""

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
    home_viewers: HomeViewers[HomeSubject] | None = None,
) -> None:
    if event.get("tab", "home") != "home":
        return
    subject = HomeSubject(
        user_id=str(event["user"]), workplace=workplace, rules=send_policy.rules, sessions=sessions, client=client
    )
    if home_viewers is None:
        await publish_home(subject)
    else:
        await home_viewers.opened(workplace.organisation_id, subject.user_id, subject)


def home_viewers() -> HomeViewers[HomeSubject]:
    """The process's register of open App Homes, republishing through `publish_home`."""
    return HomeViewers(publish_home)


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(handle_app_home_opened)
