"""An agency-sized dataset for load tests and benchmarks (``manage.py seed_scale``).

Sixty teams, 1,500 people, 5,000 workspaces (2,000 of them live), their audit trail, two weeks
of compliance runs and two years of daily cost rows per workspace and service, with the team
rollup, budgets, forecasts and a few alerts. Everything comes from one ``random.Random(seed)``,
so the same seed on the same day gives the same data.

Speed: one password hash for everybody, ``bulk_create`` for the small tables, PostgreSQL
``COPY`` for the big ones (workspaces, audit events, compliance results, daily costs) and one
``INSERT … SELECT … GROUP BY`` for the team rollup. No AWS call is made: products, versions
and offerings are written as a catalog sync and ``offering_publish`` would leave them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import connection, models
from django.utils import timezone

from costs.models import (
    BudgetAlert,
    CostSyncRun,
    CostTagStatus,
    DailyCost,
    TeamBudget,
    TeamDailyCost,
    TeamForecast,
)
from costs.prices import HOURLY, STORAGE_GB_MONTH
from costs.sync import COST_TAG_KEYS
from governance.models import (
    AuditEvent,
    CheckStatus,
    ComplianceResult,
    ComplianceSummary,
    Control,
    EvaluationRun,
    OfferingConstraint,
    TeamSettings,
)
from portal.demo_data import (
    OFFERINGS,
    SANDBOX_LIFECYCLE_CONFIG,
    SANDBOX_SECURITY_GROUP_ID,
    SANDBOX_SUBNET_ID,
    sandbox_kms_key_arn,
)
from portal.models import Membership, Project, Role, Team, User
from workspaces.models import Offering, Product, ProductVersion, State, Workspace

# Printed by the command: this data exists only on load-test databases.
PASSWORD = "scale-bench-password"  # noqa: S105 (load-test data only, printed)
PERSONAS = {
    # username -> what the load test signs in as
    "scale-admin": "admin",
    "scale-finance": "finance officer",
    "scale-auditor": "auditor",
    "scale-approver": "approver of the largest team",
    "scale-analyst": "analyst with many workspaces in the largest team",
}
SLUG_PREFIX = "scale-"
SAGEMAKER = "Amazon SageMaker"
S3 = "Amazon Simple Storage Service"
KMS = "AWS Key Management Service"
UNTAGGED_SERVICE = "Amazon Virtual Private Cloud"
REGION = "us-east-1"

_AREAS = (
    "Health", "Transport", "Climate", "Housing", "Labour", "Education", "Energy", "Water",
    "Agriculture", "Fisheries", "Justice", "Tax", "Trade", "Census", "Defence", "Veterans",
    "Wildlife", "Aviation", "Maritime", "Tourism",
)  # fmt: skip
_FUNCTIONS = (
    "Analytics", "Forecasting", "Research", "Statistics", "Insights", "Modelling",
    "Evaluation", "Risk",
)  # fmt: skip
_PROJECTS = (
    "claims", "forecast", "fraud", "survey", "outbreak", "ridership", "yield", "emissions",
    "benefits", "inspection", "triage", "pricing", "demand", "quality", "audit", "imagery",
)  # fmt: skip
_FIRST = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi",
    "Liam", "Maya", "Nils", "Olu", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Viktor",
    "Wen", "Xavi", "Yara", "Zoe",
)  # fmt: skip
_LAST = (
    "Abara", "Brown", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Quispe", "Rossi",
    "Singh", "Tanaka", "Ueda", "Varga", "Wong", "Yilmaz", "Zhang",
)  # fmt: skip
_WORDS = (
    "alpha", "birch", "cedar", "delta", "ember", "fjord", "gale", "harbor", "iris", "juniper",
    "kestrel", "lumen", "maple", "nova", "onyx", "pine", "quartz", "raven", "sage", "tundra",
)  # fmt: skip


@dataclass(frozen=True)
class ScaleSpec:
    teams: int = 60
    users: int = 1500
    workspaces: int = 5000
    live: int = 2000
    days: int = 730
    compliance_runs: int = 14
    seed: int = 8
    today: dt.date = field(default_factory=timezone.localdate)

    def __post_init__(self) -> None:
        if self.teams < 2:
            raise ValueError("--teams must be at least 2.")
        if self.users < self.teams * 4 + len(PERSONAS):
            raise ValueError(
                f"--users must be at least {self.teams * 4 + len(PERSONAS)} for {self.teams} "
                "teams (two approvers and two analysts each, plus the personas)."
            )
        if not 0 <= self.live <= self.workspaces:
            raise ValueError("--live must be between 0 and --workspaces.")
        if self.days < 7:
            raise ValueError("--days must be at least 7.")


@dataclass
class _Team:
    pk: int
    slug: str
    name: str
    project_ids: list[int]
    approvers: list[int] = field(default_factory=list)
    analysts: list[int] = field(default_factory=list)


@dataclass
class _Workspace:
    pk: uuid.UUID
    team: _Team
    project_id: int
    owner_id: int
    offering: Offering
    name: str
    instance_type: str
    volume_gb: int
    state: str
    created: dt.datetime
    approver_id: int | None
    decided: dt.datetime | None
    changed: dt.datetime
    end_date: dt.date
    first_cost_day: dt.date | None = None
    last_cost_day: dt.date | None = None
    second_service: str = S3


Log = Callable[[str], None]


# --- reset / presence ----------------------------------------------------------------------

# Prices are reference data (seeded by a migration) and stay.
_KEEP = {"costs.instanceprice", "costs.storageprice"}


def _portal_tables() -> list[str]:
    from django.apps import apps

    tables = ["django_session", "django_admin_log"]
    for label in ("portal", "workspaces", "governance", "costs"):
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.label_lower not in _KEEP and not model._meta.proxy:
                tables.append(model._meta.db_table)
    return tables


def reset() -> None:
    """Empty every portal table (not the price table). TRUNCATE, not DELETE: the audit table
    refuses DELETE by design."""
    tables = ", ".join(connection.ops.quote_name(t) for t in _portal_tables())
    with connection.cursor() as cursor:
        # Deferred foreign-key checks of this transaction must run before a TRUNCATE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def already_seeded() -> bool:
    return Team.objects.filter(slug__startswith=SLUG_PREFIX).exists()


# --- helpers -------------------------------------------------------------------------------


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into ``table``; returns how many."""
    count = 0
    cols = ", ".join(columns)
    with connection.cursor() as wrapper:
        raw = wrapper.cursor
        with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)


class ScaleBuilder:
    """Builds the dataset in dependency order; ``counts`` says what each step wrote."""

    def __init__(self, spec: ScaleSpec, log: Log | None = None) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)  # noqa: S311 (reproducible data, no secrets)
        self.log = log or (lambda message: None)
        self.counts: dict[str, int] = {}
        self.now = _at(spec.today, 12)
        self.start_day = spec.today - dt.timedelta(days=spec.days)
        self.teams: list[_Team] = []
        self.users: dict[str, int] = {}
        self.workspaces: list[_Workspace] = []
        self.offerings: list[Offering] = []
        self.audit: list[tuple[Any, ...]] = []

    # The steps, in order.
    def build(self) -> dict[str, int]:
        for step in (
            self._people_and_teams,
            self._catalog,
            self._workspaces,
            self._compliance,
            self._costs,
            self._budgets,
            self._audit_events,
        ):
            started = time.monotonic()
            step()
            self.log(
                f"  {step.__name__.strip('_').replace('_', ' ')}: {time.monotonic() - started:.1f}s"
            )
        return self.counts

    def _event(
        self,
        at: dt.datetime,
        actor: int | None,
        action: str,
        target_type: str,
        target_id: Any,
        target_repr: str,
        team: int | None,
        after: dict[str, Any] | None = None,
        reason: str = "",
    ) -> None:
        self.audit.append(
            (
                at,
                actor,
                action,
                target_type,
                str(target_id),
                target_repr[:255],
                team,
                "{}",
                json.dumps(after or {}),
                reason,
                "",
            )
        )

    # --- people and teams --------------------------------------------------------------------

    def _people_and_teams(self) -> None:
        spec, rng = self.spec, self.rng
        password = make_password(PASSWORD)  # hashed once, shared by everyone
        founded = _at(self.start_day - dt.timedelta(days=30), 9)

        names: list[str] = []
        combos = [(a, f) for a in _AREAS for f in _FUNCTIONS]
        rng.shuffle(combos)
        for i in range(spec.teams):
            area, function = combos[i % len(combos)]
            suffix = f" {i // len(combos) + 1}" if i >= len(combos) else ""
            names.append(f"{area} {function}{suffix}")
        teams = Team.objects.bulk_create(
            Team(
                name=name,
                slug=f"{SLUG_PREFIX}{i + 1:02d}-{name.lower().replace(' ', '-')}"[:50],
                cost_center=f"CC-{3000 + i}",
                description=f"{name}: models and analysis for the programme offices.",
            )
            for i, name in enumerate(names)
        )
        Team.objects.filter(pk__in=[t.pk for t in teams]).update(created_at=founded)
        projects: list[Project] = []
        for team in teams:
            for slug in rng.sample(_PROJECTS, rng.randint(2, 4)):
                projects.append(Project(team=team, name=slug.capitalize(), slug=slug))
        projects = Project.objects.bulk_create(projects)
        Project.objects.filter(pk__in=[p.pk for p in projects]).update(created_at=founded)
        by_team: dict[int, list[int]] = defaultdict(list)
        for project in projects:
            by_team[project.team_id].append(project.pk)
        self.teams = [_Team(t.pk, t.slug, t.name, by_team[t.pk]) for t in teams]

        # Global roles and personas first, then everyone else.
        people: list[User] = [
            User(
                username="scale-admin",
                first_name="Adel",
                last_name="Minh",
                is_portal_admin=True,
                is_staff=True,
                is_superuser=True,
            ),
            User(username="scale-finance", first_name="Fin", last_name="Ancer", is_finance=True),
            User(username="scale-auditor", first_name="Audra", last_name="Torres", is_auditor=True),
            User(username="scale-approver", first_name="Avery", last_name="Prover"),
            User(username="scale-analyst", first_name="Ana", last_name="Lyst"),
        ]
        extra_globals = max(0, spec.users // 300)  # a few more admins, finance, auditors
        for i in range(spec.users - len(people)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            user = User(
                username=f"{first}.{last}.{i + 1}".lower(), first_name=first, last_name=last
            )
            if i < extra_globals * 3:
                kind = i % 3
                user.is_portal_admin = kind == 0
                user.is_staff = kind == 0
                user.is_finance = kind == 1
                user.is_auditor = kind == 2
            people.append(user)
        for user in people:
            user.password = password
            user.email = f"{user.username}@agency.example"
            user.date_joined = founded
        people = User.objects.bulk_create(people)
        self.users = {u.username: u.pk for u in people}
        self.counts["users"] = len(people)

        # Team sizes follow a long tail: a few large teams, many small ones. The first team is
        # the largest; the personas belong to it.
        members = [u.pk for u in people[len(PERSONAS) + extra_globals * 3 :]]
        weights = [1 / (i + 1) ** 0.7 for i in range(spec.teams)]
        total = sum(weights)
        sizes = [max(4, int(len(members) * w / total)) for w in weights]
        pool = list(members)
        rng.shuffle(pool)
        memberships: list[Membership] = []
        approver_pk, analyst_pk = self.users["scale-approver"], self.users["scale-analyst"]
        cursor = 0
        for index, (member_team, size) in enumerate(zip(self.teams, sizes, strict=True)):
            chosen = pool[cursor : cursor + size]
            cursor += size
            if len(chosen) < 4:  # the pool ran short: reuse people as second memberships
                chosen += rng.sample(members, 4 - len(chosen))
            approvers = 4 if size >= 40 else 3 if size >= 15 else 2
            member_team.approvers = chosen[:approvers]
            member_team.analysts = chosen[approvers:]
            if index == 0:
                member_team.approvers.append(approver_pk)
                member_team.analysts.append(analyst_pk)
        leftovers = pool[cursor:]
        for i, pk in enumerate(leftovers):
            self.teams[i % len(self.teams)].analysts.append(pk)
        # About one person in twelve is also an analyst in a second team.
        for pk in rng.sample(members, len(members) // 12):
            second = rng.choice(self.teams)
            if pk not in second.approvers and pk not in second.analysts:
                second.analysts.append(pk)
        for t in self.teams:
            memberships += [
                Membership(user_id=pk, team_id=t.pk, role=Role.APPROVER) for pk in t.approvers
            ]
            memberships += [
                Membership(user_id=pk, team_id=t.pk, role=Role.ANALYST) for pk in t.analysts
            ]
        Membership.objects.bulk_create(memberships, batch_size=2000)
        Membership.objects.filter(team_id__in=[t.pk for t in self.teams]).update(created_at=founded)

        TeamSettings.objects.bulk_create(
            TeamSettings(
                team_id=t.pk,
                subnet_id=SANDBOX_SUBNET_ID,
                security_group_ids=SANDBOX_SECURITY_GROUP_ID,
                kms_key_id=sandbox_kms_key_arn(REGION),
                lifecycle_config_name=SANDBOX_LIFECYCLE_CONFIG,
            )
            for t in self.teams
        )
        admin = self.users["scale-admin"]
        for team in teams:
            self._event(founded, admin, "team.create", "portal.team", team.pk, team.name, team.pk,
                        {"name": team.name, "slug": team.slug})  # fmt: skip
            self._event(founded, admin, "team_settings.set", "governance.teamsettings", team.pk,
                        f"Settings of {team.name}", team.pk,
                        {"subnet_id": SANDBOX_SUBNET_ID})  # fmt: skip
        for project in projects:
            self._event(founded, admin, "project.create", "portal.project", project.pk,
                        project.name, project.team_id, {"slug": project.slug})  # fmt: skip
        for m in memberships:
            self._event(founded, admin, "membership.add", "portal.membership",
                        f"{m.user_id}:{m.team_id}", f"{m.user_id} in {m.team_id} as {m.role}",
                        m.team_id, {"role": m.role})  # fmt: skip
        self.counts.update(teams=len(teams), projects=len(projects), memberships=len(memberships))

    # --- catalog and offerings ---------------------------------------------------------------

    def _catalog(self) -> None:
        admin = self.users["scale-admin"]
        synced = _at(self.start_day - dt.timedelta(days=20), 10)
        for n, spec in enumerate(OFFERINGS):
            offering = Offering.objects.filter(version__product__name=spec.product_name).first()
            if offering is None:
                product = Product.objects.filter(name=spec.product_name).first()
                if product is None:
                    product = Product.objects.create(
                        product_id=f"prod-scale{n:08d}",
                        name=spec.product_name,
                        owner="Platform team",
                        description=spec.summary,
                        synced_at=synced,
                    )
                version = ProductVersion.objects.filter(product=product).first()
                if version is None:
                    version = ProductVersion.objects.create(
                        product=product,
                        artifact_id=f"pa-scale{n:08d}",
                        name="v1",
                        launch_path_id=f"lpv-scale{n:08d}",
                        allowed_instance_types=list(spec.allowed_instance_types),
                        parameters=[
                            {"key": "InstanceType", "allowed": list(spec.allowed_instance_types)},
                            {"key": "VolumeSizeInGB", "allowed": []},
                        ],
                        synced_at=synced,
                    )
                offering = Offering.objects.create(
                    version=version, title=spec.title, summary=spec.summary, published_by_id=admin
                )
                OfferingConstraint.objects.create(
                    offering=offering,
                    allowed_instance_types=list(spec.allowed_instance_types),
                    default_volume_gb=spec.default_volume_gb,
                    max_volume_gb=spec.max_volume_gb,
                    max_lifetime_days=spec.max_lifetime_days,
                    max_live_per_user=spec.max_live_per_user,
                    max_live_per_team=200,
                    approval_required=spec.approval_required,
                )
                self._event(synced, admin, "offering.publish", "workspaces.offering", offering.pk,
                            offering.title, None, {"title": offering.title})  # fmt: skip
            offering.teams.add(*[t.pk for t in self.teams])
            self.offerings.append(offering)
        Offering.objects.filter(pk__in=[o.pk for o in self.offerings]).update(published_at=synced)
        self.counts["offerings"] = len(self.offerings)

    # --- workspaces ----------------------------------------------------------------------------

    def _workspaces(self) -> None:
        spec, rng, today = self.spec, self.rng, self.spec.today
        constraints = {c.offering_id: c for c in OfferingConstraint.objects.all()}
        weights = [len(t.analysts) + len(t.approvers) for t in self.teams]
        analyst_pk = self.users["scale-analyst"]
        live_states = [State.AVAILABLE] * 55 + [State.STOPPED] * 42 + [State.PENDING_APPROVAL] * 3
        past_states = [State.TERMINATED] * 85 + [State.REJECTED] * 7 + [State.CANCELLED] * 4
        past_states += [State.FAILED] * 4
        # The analyst persona: many workspaces, mostly history, a few live.
        persona_total = min(60, spec.workspaces // 20)
        persona_live = min(3, spec.live)
        last = spec.days - 1
        for i in range(spec.workspaces):
            live = i < spec.live
            team = self.teams[0] if i % 83 == 0 else rng.choices(self.teams, weights)[0]
            persona = (i < persona_live) or (
                spec.live <= i < spec.live + persona_total - persona_live
            )
            if persona:
                team = self.teams[0]
                owner = analyst_pk
            else:
                owner = rng.choice(team.analysts if rng.random() < 0.9 else team.approvers)
            state = rng.choice(live_states if live else past_states)
            if live and i == persona_live and not persona:
                # Whatever the size, the largest team's approvers have a request to decide
                # (pages then run the same queries on a small and a big dataset).
                team, state = self.teams[0], State.PENDING_APPROVAL
                owner = team.analysts[0]
            elif live and i == persona_live + 1 and not persona:
                # ... and the approver persona has a workspace of their own.
                team, owner = self.teams[0], self.users["scale-approver"]
                state = State.AVAILABLE
            offering = rng.choices(self.offerings, [6, 3, 1][: len(self.offerings)])[0]
            c = constraints[offering.pk]
            instance_type = rng.choice(c.allowed_instance_types)
            volume = rng.choice(
                sorted({c.default_volume_gb, c.default_volume_gb * 2, c.max_volume_gb})
            )
            # When it was asked for, and how long it lived.
            if state == State.PENDING_APPROVAL:
                created_day = today - dt.timedelta(days=rng.randint(0, 3))
            elif state == State.FAILED:
                created_day = today - dt.timedelta(days=rng.randint(1, min(60, last)))
            elif live:
                created_day = self.start_day + dt.timedelta(days=rng.randint(0, last - 1))
            else:
                created_day = self.start_day + dt.timedelta(days=rng.randint(0, last - 7))
            created = _at(created_day, rng.randint(7, 17), rng.randint(0, 59))
            approvers = [a for a in team.approvers if a != owner]
            approver: int | None = rng.choice(approvers)
            decision = created + dt.timedelta(minutes=rng.randint(2, 600))
            decided: dt.datetime | None = decision
            first = last_day = None
            end_date = today + dt.timedelta(days=rng.randint(3, 90))
            changed = decision
            if state in (State.PENDING_APPROVAL, State.CANCELLED):
                approver = decided = None
                changed = created + dt.timedelta(minutes=rng.randint(0, 120))
            elif state == State.REJECTED:
                end_date = created_day + dt.timedelta(days=30)
            elif state == State.FAILED:
                changed = decision + dt.timedelta(minutes=rng.randint(5, 15))
            else:
                first = decision.date()
                if state == State.TERMINATED:
                    roll = rng.random()
                    life = (
                        rng.randint(7, 30)
                        if roll < 0.3
                        else rng.randint(30, 120)
                        if roll < 0.8
                        else rng.randint(120, 400)
                    )
                    last_day = min(first + dt.timedelta(days=life), today - dt.timedelta(days=1))
                    end_date = last_day
                    changed = _at(last_day, rng.randint(18, 23), rng.randint(0, 59))
                else:
                    last_day = today
                    changed = (
                        _at(today, 7, rng.randint(0, 59))
                        if state == State.AVAILABLE
                        else _at(today - dt.timedelta(days=1), 19, rng.randint(0, 59))
                    )
                    changed = max(changed, decision)
            name = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-{i + 1}"
            self.workspaces.append(
                _Workspace(
                    pk=uuid.UUID(int=rng.getrandbits(128), version=4),
                    team=team,
                    project_id=rng.choice(team.project_ids),
                    owner_id=owner,
                    offering=offering,
                    name=name,
                    instance_type=instance_type,
                    volume_gb=volume,
                    state=state,
                    created=created,
                    approver_id=approver,
                    decided=decided,
                    changed=changed,
                    end_date=end_date,
                    first_cost_day=first,
                    last_cost_day=last_day,
                    second_service=S3 if rng.random() < 0.7 else KMS,
                )
            )

        def rows() -> Iterator[tuple[Any, ...]]:
            for n, w in enumerate(self.workspaces):
                c = constraints[w.offering.pk]
                hourly = HOURLY.get(w.instance_type, Decimal("0.25"))
                hours = Decimal("260.88") if c.stop_outside_working_hours else Decimal("730")
                estimate = _money(hourly * hours + STORAGE_GB_MONTH * w.volume_gb)
                provisioned = w.first_cost_day is not None
                arn = (
                    f"arn:aws:sagemaker:{REGION}:123456789012:notebook-instance/"
                    f"{w.team.slug}-{w.name}"[:300]
                    if provisioned
                    else ""
                )
                yield (
                    w.pk, w.team.pk, w.project_id, w.owner_id, w.offering.pk, w.name,
                    w.instance_type, w.volume_gb, w.end_date,
                    "Needed for the programme's quarterly analysis.", estimate, w.state,
                    "AWS said: the notebook failed to start." if w.state == State.FAILED else "",
                    w.changed, w.approver_id, w.decided,
                    "Within the team's plan." if w.decided else "", "", 1,
                    f"rec-{n:012d}" if provisioned else "",
                    f"pp-{n:012d}" if provisioned else "", arn, w.created, None, "",
                )  # fmt: skip

        columns = (
            "id", "team_id", "project_id", "owner_id", "offering_id", "name", "instance_type",
            "volume_size_gb", "end_date", "justification", "estimated_monthly_usd", "state",
            "state_reason", "state_changed_at", "approver_id", "decided_at", "decision_reason",
            "budget_override_reason", "provision_attempt", "sc_record_id",
            "sc_provisioned_product_id", "notebook_arn", "created_at", "keep_running_until",
            "keep_running_reason",
        )  # fmt: skip
        self.counts["workspaces"] = _copy(Workspace._meta.db_table, columns, rows())
        self.counts["workspaces_live"] = sum(
            1 for w in self.workspaces if w.state not in ("terminated", "rejected", "cancelled")
        )

        target = "workspaces.workspace"
        for w in self.workspaces:
            label = f"{w.name} ({w.team.slug})"
            t = w.team.pk
            self._event(w.created, w.owner_id, "workspace.request", target, w.pk, label, t,
                        {"state": "pending_approval",
                         "instance_type": w.instance_type})  # fmt: skip
            if w.state == State.CANCELLED:
                self._event(w.changed, w.owner_id, "workspace.cancel", target, w.pk, label, t,
                            {"state": "cancelled"})  # fmt: skip
                continue
            if w.decided is None:
                continue
            if w.state == State.REJECTED:
                self._event(w.decided, w.approver_id, "workspace.reject", target, w.pk, label, t,
                            {"state": "rejected"}, "Use the shared notebook for this.")  # fmt: skip
                continue
            self._event(w.decided, w.approver_id, "workspace.approve", target, w.pk, label, t,
                        {"state": "approved"}, "Within the team's plan.")  # fmt: skip
            provisioning = w.decided + dt.timedelta(seconds=5)
            self._event(provisioning, None, "workspace.provision", target, w.pk, label, t,
                        {"state": "provisioning"})  # fmt: skip
            if w.state == State.FAILED:
                self._event(w.changed, None, "workspace.fail", target, w.pk, label, t,
                            {"state": "failed"})  # fmt: skip
                continue
            self._event(provisioning + dt.timedelta(minutes=6), None, "workspace.available",
                        target, w.pk, label, t, {"state": "available"})  # fmt: skip
            if w.state == State.STOPPED:
                self._event(w.changed, None, "workspace.stopped", target, w.pk, label, t,
                            {"state": "stopped"})  # fmt: skip
            elif w.state == State.TERMINATED:
                self._event(w.changed, None, "workspace.terminated", target, w.pk, label, t,
                            {"state": "terminated"})  # fmt: skip

    # --- compliance ----------------------------------------------------------------------------

    def _compliance(self) -> None:
        spec, rng = self.spec, self.rng
        runs = min(spec.compliance_runs, spec.days)
        notebooks = [w for w in self.workspaces if w.state in (State.AVAILABLE, State.STOPPED)]
        # A few notebooks break a control and keep it broken; some were launched outside.
        broken = {w.pk: rng.choice(list(Control)[1:]) for w in notebooks if rng.random() < 0.03}
        # At least one failing notebook in the largest team, whatever the size.
        first = next((w for w in notebooks if w.team is self.teams[0]), None)
        if first is not None:
            broken.setdefault(first.pk, Control.TAGS)
        unmanaged = [
            (rng.choice(self.teams), f"handmade-{rng.choice(_WORDS)}-{n}")
            for n in range(max(1, len(self.teams) // 6))
        ]
        run_rows = [
            EvaluationRun(
                started_at=_at(spec.today - dt.timedelta(days=runs - k), 2),
                finished_at=_at(spec.today - dt.timedelta(days=runs - k), 2, 4),
                status=EvaluationRun.Status.SUCCEEDED,
                resources=0,
                aws_calls=6,
            )
            for k in range(runs)
        ]
        run_rows = EvaluationRun.objects.bulk_create(run_rows)
        summaries: list[ComplianceSummary] = []
        per_run_resources: list[int] = []

        def results() -> Iterator[tuple[Any, ...]]:
            for run in run_rows:
                tally: dict[int, Counter[str]] = defaultdict(Counter)
                day = run.started_at.date()
                resources = 0
                for w in notebooks:
                    if w.first_cost_day is None or w.first_cost_day > day:
                        continue
                    resources += 1
                    name = f"{w.team.slug}-{w.name}"[:63]
                    arn = f"arn:aws:sagemaker:{REGION}:123456789012:notebook-instance/{name}"
                    bad = broken.get(w.pk)
                    failed = False
                    for control in Control:
                        status = CheckStatus.FAIL if control == bad else CheckStatus.PASS
                        failed = failed or status == CheckStatus.FAIL
                        tally[w.team.pk]["passed" if status == CheckStatus.PASS else "failed"] += 1
                        yield (
                            run.pk, w.team.pk, run.started_at, w.pk, name, arn, control.value,
                            status.value,
                            f"{control.label}: not as the team's settings require."
                            if status == CheckStatus.FAIL
                            else "",
                            "", "", "", False,
                        )  # fmt: skip
                    tally[w.team.pk]["resources"] += 1
                    tally[w.team.pk]["noncompliant"] += failed
                for team, name in unmanaged:
                    resources += 1
                    tally[team.pk]["resources"] += 1
                    tally[team.pk]["unmanaged"] += 1
                    tally[team.pk]["noncompliant"] += 1
                    tally[team.pk]["failed"] += 1
                    for control in Control:
                        status = (
                            CheckStatus.FAIL
                            if control == Control.PORTAL_MANAGED
                            else CheckStatus.NOT_APPLICABLE
                        )
                        yield (
                            run.pk, team.pk, run.started_at, None, name, "", control.value,
                            status.value,
                            "Not launched through the portal."
                            if status == CheckStatus.FAIL
                            else "",
                            "", "", "", False,
                        )  # fmt: skip
                per_run_resources.append(resources)
                for team in self.teams:
                    t = tally[team.pk]
                    checked = t["passed"] + t["failed"]
                    summaries.append(
                        ComplianceSummary(
                            run=run,
                            team_id=team.pk,
                            evaluated_at=run.started_at,
                            resources=t["resources"],
                            noncompliant_resources=t["noncompliant"],
                            unmanaged_resources=t["unmanaged"],
                            checks_passed=t["passed"],
                            checks_failed=t["failed"],
                            score=Decimal(t["passed"] * 100 / checked).quantize(Decimal("0.1"))
                            if checked
                            else None,
                        )
                    )

        columns = (
            "run_id", "team_id", "evaluated_at", "workspace_id", "resource_name", "resource_arn",
            "control", "status", "detail", "config_rule", "config_status", "config_annotation",
            "disagrees",
        )  # fmt: skip
        self.counts["compliance_results"] = _copy(
            ComplianceResult._meta.db_table, columns, results()
        )
        for run, resources in zip(run_rows, per_run_resources, strict=True):
            run.resources = resources
        EvaluationRun.objects.bulk_update(run_rows, ["resources"])
        ComplianceSummary.objects.bulk_create(summaries, batch_size=2000)
        for run in run_rows:
            self._event(run.started_at, None, "compliance.evaluate", "governance.evaluationrun",
                        run.pk, str(run), None, {"resources": run.resources})  # fmt: skip
        self.counts.update(evaluation_runs=len(run_rows), compliance_summaries=len(summaries))

    # --- costs ---------------------------------------------------------------------------------

    def _costs(self) -> None:
        spec, rng = self.spec, self.rng
        storage_day = float(STORAGE_GB_MONTH) / 30.0
        costed = [w for w in self.workspaces if w.first_cost_day is not None]

        def rows() -> Iterator[tuple[Any, ...]]:
            one = dt.timedelta(days=1)
            random_ = rng.random
            for w in costed:
                if w.first_cost_day is None or w.last_cost_day is None:
                    continue
                tag = str(w.pk)
                hourly = float(HOURLY.get(w.instance_type, Decimal("0.25")))
                storage = storage_day * w.volume_gb
                extra = 0.02 + rng.random() * 0.4 if w.second_service == S3 else 0.033
                day = max(w.first_cost_day, self.start_day)
                while day <= w.last_cost_day:
                    weekday = day.weekday() < 5
                    hours = 4 + random_() * 8 if weekday else (random_() < 0.1) * random_() * 6
                    yield (day, tag, SAGEMAKER, w.team.pk, w.project_id, w.pk,
                           round(storage + hourly * hours, 6))  # fmt: skip
                    yield (day, tag, w.second_service, w.team.pk, w.project_id, w.pk,
                           round(extra * (0.8 + random_() * 0.4), 6))  # fmt: skip
                    day += one
            # Shared network spend nobody tagged: one row a day, kept so totals match AWS.
            day = self.start_day
            while day <= spec.today:
                yield (day, "", UNTAGGED_SERVICE, None, None, None, round(3 + random_() * 2, 6))
                day += one

        columns = ("day", "workspace_tag", "service", "team_id", "project_id", "workspace_id",
                   "amount_usd")  # fmt: skip
        self.counts["daily_costs"] = _copy(DailyCost._meta.db_table, columns, rows())
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {TeamDailyCost._meta.db_table} (day, team_id, project_id, amount_usd)
                SELECT day, team_id, project_id, SUM(amount_usd)
                FROM {DailyCost._meta.db_table}
                GROUP BY day, team_id, project_id
                """  # noqa: S608 (table names from the models, no input)
            )
            self.counts["team_daily_costs"] = cursor.rowcount
            cursor.execute(f"ANALYZE {TeamDailyCost._meta.db_table}")
        finished = self.now
        CostSyncRun.objects.create(
            kind=CostSyncRun.Kind.BACKFILL,
            status=CostSyncRun.Status.SUCCEEDED,
            start_day=self.start_day,
            end_day=spec.today + dt.timedelta(days=1),
            finished_at=finished,
            ce_requests=max(1, self.counts["daily_costs"] // 5000),
            pages=max(1, self.counts["daily_costs"] // 5000),
            rows_upserted=self.counts["daily_costs"],
        )
        CostTagStatus.objects.bulk_create(
            CostTagStatus(key=key, status="Active", checked_at=finished) for key in COST_TAG_KEYS
        )

    def _budgets(self) -> None:
        """Budgets near each team's usual month, so some teams run hot; a forecast per team for
        this month and the alerts the thresholds would have raised."""
        spec, rng = self.spec, self.rng
        today = spec.today
        month = today.replace(day=1)
        last_month = (month - dt.timedelta(days=1)).replace(day=1)
        window_start = max(self.start_day, today - dt.timedelta(days=90))
        rows = (
            TeamDailyCost.objects.filter(team__isnull=False, day__gte=window_start)
            .values("team_id")
            .annotate(total=models.Sum("amount_usd"))
        )
        recent = {r["team_id"]: r["total"] for r in rows}
        mtd_rows = (
            TeamDailyCost.objects.filter(team__isnull=False, day__gte=month, day__lte=today)
            .values("team_id")
            .annotate(total=models.Sum("amount_usd"))
        )
        mtd = {r["team_id"]: r["total"] for r in mtd_rows}
        days_window = (today - window_start).days + 1
        days_in_month = ((month + dt.timedelta(days=32)).replace(day=1) - month).days
        finance = self.users["scale-finance"]
        budgets, forecasts, alerts = [], [], []
        for i, team in enumerate(self.teams):
            daily = float(recent.get(team.pk) or 0) / days_window
            spent = float(mtd.get(team.pk) or 0)
            forecast = spent + daily * (days_in_month - today.day)
            forecasts.append(
                TeamForecast(
                    team_id=team.pk,
                    month=month,
                    mean_usd=_money(forecast),
                    low_usd=_money(forecast * 0.9),
                    high_usd=_money(forecast * 1.12),
                    source=TeamForecast.Source.PORTAL,
                    computed_at=self.now,
                )
            )
            if i % 10 == 9:  # most teams, not all, have a budget
                continue
            monthly = max(100.0, round(daily * 30 * rng.uniform(0.95, 2.4), -2))
            budgets.append(TeamBudget(team_id=team.pk, monthly_usd=_money(monthly)))
            for kind, value, thresholds in (
                (BudgetAlert.Kind.ACTUAL, spent, (50, 80, 100)),
                (BudgetAlert.Kind.FORECAST, forecast, (100,)),
            ):
                for threshold in thresholds:
                    if value * 100 >= monthly * threshold:
                        alerts.append(
                            BudgetAlert(
                                team_id=team.pk,
                                month=month,
                                kind=kind,
                                threshold_percent=threshold,
                                budget_usd=_money(monthly),
                                amount_usd=_money(value),
                                raised_at=self.now - dt.timedelta(hours=rng.randint(1, 200)),
                            )
                        )
            if rng.random() < 0.2:  # last month's crossing, already acknowledged
                alerts.append(
                    BudgetAlert(
                        team_id=team.pk,
                        month=last_month,
                        kind=BudgetAlert.Kind.ACTUAL,
                        threshold_percent=80,
                        budget_usd=_money(monthly),
                        amount_usd=_money(monthly * 0.82),
                        raised_at=_at(last_month + dt.timedelta(days=20), 6),
                        acknowledged_at=_at(last_month + dt.timedelta(days=20), 9),
                        acknowledged_by_id=finance,
                    )
                )
        TeamBudget.objects.bulk_create(budgets)
        TeamForecast.objects.bulk_create(forecasts)
        BudgetAlert.objects.bulk_create(alerts)
        founded = _at(self.start_day, 9)
        for budget in budgets:
            self._event(founded, finance, "budget.set", "costs.teambudget", budget.pk,
                        f"{budget.monthly_usd}/month", budget.team_id,
                        {"monthly_usd": str(budget.monthly_usd)})  # fmt: skip
        self.counts.update(budgets=len(budgets), forecasts=len(forecasts), alerts=len(alerts))

    # --- audit -----------------------------------------------------------------------------------

    def _audit_events(self) -> None:
        # Insert only: the table's triggers refuse UPDATE and DELETE. In time order, as written.
        self.audit.sort(key=lambda row: row[0])
        columns = ("created_at", "actor_id", "action", "target_type", "target_id", "target_repr",
                   "team_id", "before", "after", "reason", "request_id")  # fmt: skip
        self.counts["audit_events"] = _copy(AuditEvent._meta.db_table, columns, self.audit)
        with connection.cursor() as cursor:
            # Fresh statistics for every table just loaded, or the first pages are planned
            # as if the tables were empty.
            cursor.execute("ANALYZE")


def build(spec: ScaleSpec, log: Log | None = None) -> dict[str, int]:
    return ScaleBuilder(spec, log).build()


def largest_team_slug() -> str:
    """The persona team: the first scale team by id (the builder makes it the largest)."""
    team = Team.objects.filter(slug__startswith=SLUG_PREFIX).order_by("pk").first()
    if team is None:
        raise LookupError("No scale data: run manage.py seed_scale first.")
    return team.slug


__all__ = [
    "PASSWORD",
    "PERSONAS",
    "ScaleBuilder",
    "ScaleSpec",
    "already_seeded",
    "build",
    "largest_team_slug",
    "reset",
]
