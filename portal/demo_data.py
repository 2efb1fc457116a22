"""The demo's people and teams, shared by the seed command and the demo launcher.

Passwords are fixed and printed because this data exists only in local runs; the seed command
refuses to run with production settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoPerson:
    username: str
    password: str
    persona: str
    first_name: str
    last_name: str
    teams: dict[str, str] = field(default_factory=dict)  # team slug -> role
    is_portal_admin: bool = False
    is_finance: bool = False
    is_auditor: bool = False


@dataclass(frozen=True)
class DemoTeam:
    slug: str
    name: str
    cost_center: str
    description: str
    projects: tuple[tuple[str, str], ...]


TEAMS = (
    # Slugs, cost centres and projects match the sandbox's demo seed, so the tagged notebooks
    # and cost history it carries belong to these teams.
    DemoTeam(
        "health-analytics",
        "Health Analytics",
        "CC-1042",
        "Hospital readmission and claims models for programme offices.",
        (("readmissions", "Readmissions"), ("claims-review", "Claims review")),
    ),
    DemoTeam(
        "transport-planning",
        "Transport Planning",
        "CC-2077",
        "Ridership forecasts and network planning.",
        (("ridership", "Ridership"), ("gtfs-quality", "GTFS quality")),
    ),
)

PEOPLE = (
    DemoPerson(
        "analyst",
        "analyst-demo-pass",
        "analyst",
        "Ana",
        "Lyst",
        teams={"health-analytics": "analyst"},
    ),
    DemoPerson(
        "approver",
        "approver-demo-pass",
        "approver",
        "Avery",
        "Prover",
        teams={"health-analytics": "approver"},
    ),
    DemoPerson("admin", "admin-demo-pass", "admin", "Adel", "Minh", is_portal_admin=True),
    DemoPerson("finance", "finance-demo-pass", "finance officer", "Fin", "Ancer", is_finance=True),
    DemoPerson("auditor", "auditor-demo-pass", "auditor", "Audra", "Torres", is_auditor=True),
    DemoPerson(
        "outsider",
        "outsider-demo-pass",
        "analyst in another team",
        "Otto",
        "Sider",
        teams={"transport-planning": "analyst"},
    ),
)
