"""The request rules, the same for the form, the API and approval time.

Each rule names the field it is about and says what the limit is, so a person can fix the
request without asking anyone.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.utils import timezone

from costs.selectors import BudgetPosition, budget_position
from governance.models import OfferingConstraint, TeamSettings
from portal.models import Membership, Project, Team, User
from workspaces.models import LIVE_STATES, Offering, Workspace

NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
MIN_VOLUME_GB = 5  # SageMaker's smallest notebook volume
NON_FIELD = "__all__"


@dataclass(frozen=True)
class RequestInput:
    offering: Offering
    team: Team
    project: Project
    name: str
    instance_type: str
    volume_size_gb: int
    end_date: dt.date
    justification: str


class Problems(dict[str, list[str]]):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)


def check_request(
    *,
    user: User,
    data: RequestInput,
    budget: BudgetPosition | None = None,
    exclude: Workspace | None = None,
    budget_is_blocking: bool = True,
) -> Problems:
    """Every rule the request breaks, by field. ``exclude`` is the workspace itself when
    re-checking at approval, so it does not count against its own quotas or name."""
    problems = Problems()
    team, offering = data.team, data.offering

    if not Membership.objects.filter(user=user, team=team).exists():
        problems.add(
            "team", f"You are not a member of {team.name}, so you cannot request workspaces for it."
        )
        return problems  # nothing else about this team is the requester's business

    constraint = OfferingConstraint.objects.filter(offering=offering).first()
    published = (
        offering.is_active and constraint is not None and offering.teams.filter(pk=team.pk).exists()
    )
    if not published or constraint is None:
        problems.add("offering", f"“{offering.title}” is not published for {team.name}.")
        return problems
    if not offering.version.requestable:
        problems.add(
            "offering",
            f"“{offering.title}” uses a product version that is retired or "
            "inactive in Service Catalog; it cannot be requested.",
        )

    if not TeamSettings.objects.filter(team=team).exists():
        problems.add(
            NON_FIELD,
            f"An admin has not yet set {team.name}'s network and encryption "
            "settings; workspaces can be requested once they are.",
        )

    if data.project.team_id != team.pk or not data.project.is_active:
        problems.add("project", f"Choose an active project of {team.name}.")

    if not NAME_PATTERN.match(data.name):
        problems.add(
            "name",
            "Use 1 to 40 lower-case letters, digits and hyphens, starting and "
            "ending with a letter or digit.",
        )
    else:
        same_name = Workspace.objects.filter(team=team, name=data.name, state__in=LIVE_STATES)
        if exclude is not None:
            same_name = same_name.exclude(pk=exclude.pk)
        if same_name.exists():
            problems.add("name", f"{team.name} already has a workspace named “{data.name}”.")

    allowed = constraint.allowed_instance_types
    if data.instance_type not in allowed:
        problems.add(
            "instance_type",
            f"{data.instance_type} is not allowed for this offering; "
            f"choose one of {', '.join(allowed)}.",
        )

    if not MIN_VOLUME_GB <= data.volume_size_gb <= constraint.max_volume_gb:
        problems.add(
            "volume_size_gb",
            f"The volume must be between {MIN_VOLUME_GB} and {constraint.max_volume_gb} GB.",
        )

    today = timezone.localdate()
    latest = today + dt.timedelta(days=constraint.max_lifetime_days)
    if data.end_date <= today:
        problems.add("end_date", "The end date must be after today.")
    elif data.end_date > latest:
        problems.add(
            "end_date",
            f"The longest lifetime is {constraint.max_lifetime_days} days: "
            f"choose {latest:%Y-%m-%d} or earlier.",
        )

    if len(data.justification.strip()) < 10:
        problems.add(
            "justification", "Say in a sentence what the workspace is for (at least 10 characters)."
        )

    live = Workspace.objects.filter(team=team, state__in=LIVE_STATES)
    if exclude is not None:
        live = live.exclude(pk=exclude.pk)
    mine = live.filter(owner=user).count()
    if mine >= constraint.max_live_per_user:
        problems.add(
            NON_FIELD,
            f"You already have {mine} live workspace(s) in {team.name}; "
            f"the limit is {constraint.max_live_per_user} per person.",
        )
    team_live = live.count()
    if team_live >= constraint.max_live_per_team:
        problems.add(
            NON_FIELD,
            f"{team.name} already has {team_live} live workspaces; the "
            f"limit is {constraint.max_live_per_team} per team.",
        )

    budget = budget or budget_position(team)
    if budget_is_blocking and budget.exhausted:
        problems.add(
            "team",
            f"{team.name} has spent {budget.percent} % of its monthly budget "
            f"(${budget.spent_usd} of ${budget.budget_usd}); new workspaces are "
            "refused until the budget is raised or the month ends.",
        )
    return problems
