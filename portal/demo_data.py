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


# --- what the sandbox's demo seed holds (apps never import the sandbox, so it is restated) --

SANDBOX_ACCOUNT = "123456789012"
SANDBOX_SUBNET_ID = "subnet-0a1b2c3d4e5f60718"
SANDBOX_SECURITY_GROUP_ID = "sg-0a1b2c3d4e5f60719"
SANDBOX_KEY_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
SANDBOX_LIFECYCLE_CONFIG = "portal-idle-shutdown"


def sandbox_kms_key_arn(region: str) -> str:
    return f"arn:aws:kms:{region}:{SANDBOX_ACCOUNT}:key/{SANDBOX_KEY_ID}"


@dataclass(frozen=True)
class DemoOffering:
    """One published offering per sandbox product, found by the product's name."""

    product_name: str
    title: str
    summary: str
    allowed_instance_types: tuple[str, ...]
    default_volume_gb: int
    max_volume_gb: int
    max_lifetime_days: int
    approval_required: bool
    max_live_per_user: int = 2


OFFERINGS = (
    DemoOffering(
        "Standard CPU notebook",
        "Everyday analysis",
        "Pandas, SQL and charts on a small CPU notebook. Within the limits it is approved at once.",
        ("ml.t3.medium", "ml.t3.large"),
        default_volume_gb=20,
        max_volume_gb=50,
        max_lifetime_days=90,
        approval_required=False,
    ),
    DemoOffering(
        "Large-memory notebook",
        "Large data frames",
        "A memory-optimised notebook for data that does not fit on a laptop.",
        ("ml.r5.large", "ml.r5.xlarge"),
        default_volume_gb=50,
        max_volume_gb=200,
        max_lifetime_days=60,
        approval_required=True,
    ),
    DemoOffering(
        "GPU notebook",
        "Deep learning (GPU)",
        "A single-GPU notebook for training models. Every request is reviewed by an approver.",
        ("ml.g4dn.xlarge",),
        default_volume_gb=50,
        max_volume_gb=200,
        max_lifetime_days=30,
        approval_required=True,
        max_live_per_user=1,
    ),
)

# Monthly budgets in USD, above the sandbox's cost history so a new demo starts healthy.
BUDGETS = {"health-analytics": "1500.00", "transport-planning": "1200.00"}
