"""The usage ledger: seeded daily history plus what live notebooks have run, priced on demand.

Prices are us-east-1 on-demand figures for SageMaker notebook instances and ML storage, rounded;
they are close enough to make the demo's numbers plausible, not a price list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.state import AccountState

SERVICE = "Amazon SageMaker"
STORAGE_PER_GB_MONTH = 0.14
HOURS_PER_MONTH = 730.0
# Hourly on-demand price of a notebook instance, USD.
HOURLY = {
    "ml.t2.medium": 0.0464,
    "ml.t2.large": 0.0928,
    "ml.t2.xlarge": 0.1856,
    "ml.t3.medium": 0.05,
    "ml.t3.large": 0.10,
    "ml.t3.xlarge": 0.20,
    "ml.t3.2xlarge": 0.399,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.r5.large": 0.151,
    "ml.r5.xlarge": 0.302,
    "ml.r5.2xlarge": 0.605,
    "ml.r5.4xlarge": 1.21,
    "ml.g4dn.xlarge": 0.7364,
    "ml.g4dn.2xlarge": 1.0528,
    "ml.g5.xlarge": 1.408,
    "ml.p3.2xlarge": 3.825,
}
DEFAULT_HOURLY = 0.25
REGION_PREFIX = {
    "us-east-1": "USE1",
    "us-east-2": "USE2",
    "us-west-1": "USW1",
    "us-west-2": "USW2",
    "eu-west-1": "EU",
    "eu-central-1": "EUC1",
    "ca-central-1": "CAN1",
    "ap-southeast-2": "APS2",
}
# Dates before any status change: tags have always been in the state they were first given.
BEGINNING = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def hourly_price(instance_type: str) -> float:
    return HOURLY.get(instance_type, DEFAULT_HOURLY)


def usage_type(region: str, suffix: str) -> str:
    return f"{REGION_PREFIX.get(region, region.upper())}-Notebk:{suffix}"


@dataclass(frozen=True)
class CostRow:
    """One line of the ledger: a resource's usage of one kind on one UTC day."""

    day: dt.date
    account: str
    region: str
    usage_type: str
    instance_type: str
    resource_id: str
    tags: tuple[tuple[str, str], ...]
    cost: float
    usage: float

    def dimension(self, key: str) -> str:
        return {
            "SERVICE": SERVICE,
            "SERVICE_CODE": "AmazonSageMaker",
            "LINKED_ACCOUNT": self.account,
            "REGION": self.region,
            "USAGE_TYPE": self.usage_type,
            "INSTANCE_TYPE": self.instance_type,
            "RECORD_TYPE": "Usage",
            "PURCHASE_TYPE": "On Demand Instances",
            "RESOURCE_ID": self.resource_id,
            "BILLING_ENTITY": "AWS",
            "LEGAL_ENTITY_NAME": "Amazon Web Services, Inc.",
            "INVOICING_ENTITY": "Amazon Web Services, Inc.",
            "OPERATION": "RunInstance" if self.instance_type else "CreateVolume",
            "AZ": f"{self.region}a",
        }.get(key, "")


@dataclass
class TagStatus:
    """A cost-allocation tag's status over time: AWS applies an activation from then on."""

    key: str
    changes: list[tuple[dt.datetime, str]] = field(default_factory=list)
    updated: dt.datetime | None = None

    def status_at(self, when: dt.datetime) -> str:
        status = "Inactive"
        for since, value in self.changes:
            if since <= when:
                status = value
        return status

    @property
    def current(self) -> str:
        return self.changes[-1][1] if self.changes else "Inactive"


def set_tag_status(
    account: AccountState, key: str, status: str, now: dt.datetime, since: dt.datetime | None
) -> None:
    tag = account.cost_tags.setdefault(key, TagStatus(key=key))
    if since is None:
        # Backfill: the new status holds for all of history.
        tag.changes = [(BEGINNING, status)]
    else:
        day_start = dt.datetime.combine(since.date(), dt.time(), tzinfo=dt.UTC)
        tag.changes = [c for c in tag.changes if c[0] < day_start] + [(day_start, status)]
    tag.updated = now


def known_tag_keys(account: AccountState, now: dt.datetime) -> dict[str, dt.date]:
    """User-defined tag keys seen on usage, with the last day each was used."""
    seen: dict[str, dt.date] = {}
    for row in rows(account, now, cutoff_lag=False):
        for key, _ in row.tags:
            if not key.startswith("aws:") and (key not in seen or seen[key] < row.day):
                seen[key] = row.day
    for key in account.cost_tags:
        seen.setdefault(key, now.date())
    return seen


def tag_statuses(account: AccountState, now: dt.datetime) -> dict[str, str]:
    return {
        key: account.cost_tags[key].current if key in account.cost_tags else "Inactive"
        for key in sorted(known_tag_keys(account, now))
    }


def visible_cutoff(now: dt.datetime) -> dt.datetime:
    """Cost Explorer's data lags usage by about a day."""
    return now - dt.timedelta(days=1)


def _split_days(start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.date, float]]:
    cursor = start
    while cursor < end:
        next_midnight = dt.datetime.combine(
            cursor.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
        )
        stop = min(end, next_midnight)
        yield cursor.date(), (stop - cursor).total_seconds() / 3600
        cursor = stop


def rows(account: AccountState, now: dt.datetime, *, cutoff_lag: bool = True) -> list[CostRow]:
    cutoff = visible_cutoff(now) if cutoff_lag else now
    out = [
        r for r in account.history if dt.datetime.combine(r.day, dt.time(), tzinfo=dt.UTC) < cutoff
    ]
    for notebook in account.notebooks_ever:
        notebook.settle(now)
        tags = tuple(sorted(notebook.tags.items()))
        for start, end, instance_type in notebook.runs:
            stop = min(end or now, cutoff)
            for day, hours in _split_days(start, stop):
                out.append(
                    CostRow(
                        day=day,
                        account=notebook.account,
                        region=notebook.region,
                        usage_type=usage_type(notebook.region, instance_type),
                        instance_type=instance_type,
                        resource_id=notebook.arn,
                        tags=tags,
                        cost=hours * hourly_price(instance_type),
                        usage=hours,
                    )
                )
        for start, end, size in notebook.volumes:
            stop = min(end or now, cutoff)
            for day, hours in _split_days(start, stop):
                gb_months = size * hours / HOURS_PER_MONTH
                out.append(
                    CostRow(
                        day=day,
                        account=notebook.account,
                        region=notebook.region,
                        usage_type=usage_type(notebook.region, "VolumeUsage.gp2"),
                        instance_type="",
                        resource_id=notebook.arn,
                        tags=tags,
                        cost=gb_months * STORAGE_PER_GB_MONTH,
                        usage=gb_months,
                    )
                )
    return out


def visible_tags(account: AccountState, row: CostRow) -> dict[str, str]:
    """The row's tags as Cost Explorer shows them: only keys active on the row's day."""
    when = dt.datetime.combine(row.day, dt.time(), tzinfo=dt.UTC)
    return {
        key: value
        for key, value in row.tags
        if key in account.cost_tags and account.cost_tags[key].status_at(when) == "Active"
    }


def summary(account: AccountState, now: dt.datetime) -> dict[str, Any]:
    all_rows = rows(account, now)
    return {"rows": len(all_rows), "total": round(sum(r.cost for r in all_rows), 2)}
