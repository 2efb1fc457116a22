"""Compliance evaluation: every notebook carrying a team's tag, checked against the controls.

One run reads AWS in batches (the tagging API for which notebooks exist, one describe per
notebook, AWS Config's results per rule), then writes one row per notebook and control, a
score per team and one audit event, in one transaction. Nothing is read from AWS while a page
renders, and nothing an earlier run wrote is changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.models import (
    CheckStatus,
    ComplianceResult,
    ComplianceSummary,
    Control,
    EvaluationRun,
    TeamSettings,
)
from governance.services import audit_record
from portal import aws
from portal.models import Team, User
from workspaces.models import State, Workspace

PORTAL_TAGS = (
    "portal:team",
    "portal:project",
    "portal:workspace",
    "portal:owner",
    "portal:cost-center",
)
NOTEBOOK_RESOURCE_TYPE = "sagemaker:notebook-instance"
CONFIG_RESOURCE_TYPE = "AWS::SageMaker::NotebookInstance"

# Workspaces whose notebook may exist in AWS; the others never had one or no longer do.
NOTEBOOK_STATES = (
    State.PROVISIONING,
    State.AVAILABLE,
    State.FAILED,
    State.STOPPING,
    State.STOPPED,
    State.STARTING,
    State.TERMINATING,
)

# AWS Config managed rules, by the name AWS gives them by default. Conformance packs add a
# prefix or suffix, so a rule matches when its name contains one of these.
CONFIG_RULES: dict[Control, tuple[str, ...]] = {
    Control.NO_INTERNET: ("sagemaker-notebook-no-direct-internet-access",),
    Control.KMS_KEY: ("sagemaker-notebook-instance-kms-key-configured",),
    Control.NO_ROOT: ("sagemaker-notebook-instance-root-access-check",),
    Control.TEAM_SUBNET: ("sagemaker-notebook-instance-inside-vpc",),
    Control.PLATFORM: ("sagemaker-notebook-instance-platform-version",),
    Control.TAGS: ("required-tags",),
}

# What to do about a failing control, shown next to it on the team page.
GUIDANCE: dict[str, str] = {
    Control.PORTAL_MANAGED: (
        "Nobody requested or approved this notebook, so no budget or schedule applies. "
        "Ask its owner to request a workspace through the portal, then delete this one."
    ),
    Control.KMS_KEY: (
        "The volume's key cannot be changed in place: terminate the workspace and request a "
        "new one, which is launched with the team's key."
    ),
    Control.NO_INTERNET: (
        "Internet access cannot be switched off in place: stop and terminate the notebook; a "
        "workspace requested through the portal always has it disabled."
    ),
    Control.NO_ROOT: (
        "Stop the workspace; an administrator sets root access back to Disabled "
        "(UpdateNotebookInstance) before it is started again."
    ),
    Control.TEAM_SUBNET: (
        "A notebook cannot move subnets: terminate it and request a new workspace, which is "
        "launched in the team's subnet."
    ),
    Control.TAGS: (
        "Put the portal's tags back (team, project, workspace, owner, cost centre); without "
        "them its cost is charged to nobody."
    ),
    Control.PLATFORM: (
        "The platform is fixed at launch: move the work to a new workspace on the current "
        "platform and terminate this one."
    ),
    Control.INSTANCE_TYPE: (
        "The offering no longer allows this size: stop the workspace and change it to an "
        "allowed instance type, or request a new one."
    ),
}


@dataclass
class Notebook:
    """What AWS said about one notebook: its tags (tagging API) and attributes (describe)."""

    name: str
    arn: str
    tags: dict[str, str]
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    control: Control
    status: CheckStatus
    detail: str


class _Calls:
    """Counts the AWS requests a run makes, which the run records (and tests bound)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        self.count += 1
        response: dict[str, Any] = getattr(aws.client(service), operation)(**params)
        return response


# --- reading AWS ----------------------------------------------------------------------------


def _name_from_arn(arn: str) -> str:
    return arn.rsplit("notebook-instance/", 1)[-1]


def _tagged_notebooks(call: _Calls, team: Team | None) -> dict[str, Notebook]:
    """Every notebook carrying ``portal:team`` (for one team: that value), by name."""
    tag_filter: dict[str, Any] = {"Key": "portal:team"}
    if team is not None:
        tag_filter["Values"] = [team.slug]
    found: dict[str, Notebook] = {}
    token = ""
    while True:
        params: dict[str, Any] = {
            "ResourceTypeFilters": [NOTEBOOK_RESOURCE_TYPE],
            "TagFilters": [tag_filter],
            "ResourcesPerPage": 100,
        }
        if token:
            params["PaginationToken"] = token
        page = call("resourcegroupstaggingapi", "get_resources", **params)
        for item in page.get("ResourceTagMappingList", []):
            arn = item["ResourceARN"]
            tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            found[_name_from_arn(arn)] = Notebook(_name_from_arn(arn), arn, tags)
        token = page.get("PaginationToken", "")
        if not token:
            return found


def _not_found(error: BaseException) -> bool:
    # SageMaker answers a missing notebook with ValidationException "RecordNotFound".
    return aws.error_code(error) == "ValidationException" and "RecordNotFound" in str(error)


def _describe(call: _Calls, name: str) -> dict[str, Any] | None:
    try:
        return call("sagemaker", "describe_notebook_instance", NotebookInstanceName=name)
    except aws.ClientError as error:
        if _not_found(error):
            return None
        raise


def _untagged_notebook(call: _Calls, workspace: Workspace) -> Notebook | None:
    """A managed workspace's notebook that lost its team tag: found by name, tags read."""
    attributes = _describe(call, workspace.notebook_name)
    if attributes is None:
        return None  # gone: the reconciler reports that drift, not compliance
    arn = attributes["NotebookInstanceArn"]
    tags = call("sagemaker", "list_tags", ResourceArn=arn, MaxResults=100).get("Tags", [])
    return Notebook(workspace.notebook_name, arn, {t["Key"]: t["Value"] for t in tags}, attributes)


def _config_rule_control(rule_name: str) -> Control | None:
    lowered = rule_name.lower()
    for control, names in CONFIG_RULES.items():
        if any(name in lowered for name in names):
            return control
    return None


def _config_results(call: _Calls) -> tuple[dict[Control, dict[str, tuple[str, str, str]]], str]:
    """AWS Config's verdict per control and notebook name: (rule, ComplianceType, annotation).

    An account without Config (or without these rules) still gets the portal's own checks;
    the problem is reported on the run instead of failing it.
    """
    results: dict[Control, dict[str, tuple[str, str, str]]] = {}
    try:
        rules: list[str] = []
        token = ""
        while True:
            page = call(
                "config",
                "describe_compliance_by_config_rule",
                **({"NextToken": token} if token else {}),
            )
            for item in page.get("ComplianceByConfigRules", []):
                kind = item.get("Compliance", {}).get("ComplianceType", "")
                # INSUFFICIENT_DATA means no results to fetch; skip the call.
                if kind in {"COMPLIANT", "NON_COMPLIANT"}:
                    rules.append(item["ConfigRuleName"])
            token = page.get("NextToken", "")
            if not token:
                break
        for rule in rules:
            control = _config_rule_control(rule)
            if control is None or control in results:
                continue
            per_resource = results.setdefault(control, {})
            token = ""
            while True:
                params: dict[str, Any] = {
                    "ConfigRuleName": rule,
                    "ComplianceTypes": ["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"],
                    "Limit": 100,
                }
                if token:
                    params["NextToken"] = token
                page = call("config", "get_compliance_details_by_config_rule", **params)
                for item in page.get("EvaluationResults", []):
                    qualifier = item["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
                    if qualifier.get("ResourceType") != CONFIG_RESOURCE_TYPE:
                        continue
                    per_resource[qualifier["ResourceId"]] = (
                        rule,
                        item.get("ComplianceType", ""),
                        item.get("Annotation", "")[:256],
                    )
                token = page.get("NextToken", "")
                if not token:
                    break
    except aws.AWS_ERRORS as error:
        if aws.is_transient(error):
            raise
        return results, f"AWS Config could not be read: {aws.error_message(error)}"
    return results, ""


# --- the checks -----------------------------------------------------------------------------


def _same_key(actual: str, wanted: str) -> bool:
    """A key id and the ARN of the same key are the same key."""
    if actual == wanted:
        return True
    short, long = sorted((actual, wanted), key=len)
    return long.startswith("arn:") and long.endswith(f":key/{short}")


def _expected_tags(team: Team, workspace: Workspace | None) -> dict[str, str | None]:
    """None means "present, any value": an unmanaged notebook has no workspace to compare."""
    if workspace is None:
        return {
            "portal:team": team.slug,
            "portal:project": None,
            "portal:workspace": None,
            "portal:owner": None,
            "portal:cost-center": team.cost_center,
        }
    return {
        "portal:team": team.slug,
        "portal:project": workspace.project.slug,
        "portal:workspace": str(workspace.pk),
        "portal:owner": workspace.owner.username,
        "portal:cost-center": team.cost_center,
    }


def _tag_check(notebook: Notebook, team: Team, workspace: Workspace | None) -> Check:
    missing, wrong = [], []
    for key, value in _expected_tags(team, workspace).items():
        if key not in notebook.tags:
            missing.append(key)
        elif value is not None and notebook.tags[key] != value:
            wrong.append(f"{key} is {notebook.tags[key]!r}, should be {value!r}")
    if not missing and not wrong:
        return Check(Control.TAGS, CheckStatus.PASS, "All five portal tags carry the right values.")
    parts = ([f"missing {', '.join(missing)}"] if missing else []) + wrong
    return Check(Control.TAGS, CheckStatus.FAIL, "Tags: " + "; ".join(parts) + ".")


def _checks(
    notebook: Notebook, team: Team, settings: TeamSettings | None, workspace: Workspace | None
) -> list[Check]:
    a = notebook.attributes
    out: list[Check] = []
    if workspace is not None:
        out.append(
            Check(
                Control.PORTAL_MANAGED,
                CheckStatus.PASS,
                f"Workspace {workspace.name}, requested by {workspace.owner.username}.",
            )
        )
    else:
        out.append(
            Check(
                Control.PORTAL_MANAGED,
                CheckStatus.FAIL,
                "Carries the team's tag, but no workspace in the portal launched it.",
            )
        )

    key = a.get("KmsKeyId") or ""
    if not key:
        out.append(Check(Control.KMS_KEY, CheckStatus.FAIL, "The volume has no KMS key."))
    elif settings is not None and not _same_key(key, settings.kms_key_id):
        out.append(
            Check(
                Control.KMS_KEY,
                CheckStatus.FAIL,
                f"Encrypted with {key}, not the team's key {settings.kms_key_id}.",
            )
        )
    else:
        out.append(Check(Control.KMS_KEY, CheckStatus.PASS, f"Encrypted with {key}."))

    if a.get("DirectInternetAccess") == "Disabled":
        out.append(Check(Control.NO_INTERNET, CheckStatus.PASS, "Direct internet access is off."))
    else:
        out.append(
            Check(
                Control.NO_INTERNET,
                CheckStatus.FAIL,
                "Direct internet access is enabled: the notebook reaches the internet around "
                "the agency's network controls.",
            )
        )

    # AWS's default for RootAccess is Enabled, so a missing value is a failure.
    if a.get("RootAccess") == "Disabled":
        out.append(Check(Control.NO_ROOT, CheckStatus.PASS, "Root access is off."))
    else:
        out.append(
            Check(
                Control.NO_ROOT,
                CheckStatus.FAIL,
                "Root access is enabled: its users can change the notebook's software and "
                "security settings.",
            )
        )

    subnet = a.get("SubnetId") or ""
    if not subnet:
        out.append(Check(Control.TEAM_SUBNET, CheckStatus.FAIL, "Not inside a VPC (no subnet)."))
    elif settings is not None and subnet != settings.subnet_id:
        out.append(
            Check(
                Control.TEAM_SUBNET,
                CheckStatus.FAIL,
                f"In subnet {subnet}, not the team's subnet {settings.subnet_id}.",
            )
        )
    else:
        out.append(Check(Control.TEAM_SUBNET, CheckStatus.PASS, f"In subnet {subnet}."))

    out.append(_tag_check(notebook, team, workspace))

    platform = a.get("PlatformIdentifier") or "unknown"
    if settings is None:
        out.append(
            Check(
                Control.PLATFORM,
                CheckStatus.NOT_APPLICABLE,
                "The team has no settings naming its current platform.",
            )
        )
    elif platform == settings.platform_identifier:
        out.append(Check(Control.PLATFORM, CheckStatus.PASS, f"Runs {platform}."))
    else:
        out.append(
            Check(
                Control.PLATFORM,
                CheckStatus.FAIL,
                f"Runs {platform}; the team's current platform is {settings.platform_identifier}.",
            )
        )

    instance_type = a.get("InstanceType") or "unknown"
    constraint = getattr(workspace.offering, "constraint", None) if workspace else None
    if constraint is None:
        out.append(
            Check(
                Control.INSTANCE_TYPE,
                CheckStatus.NOT_APPLICABLE,
                f"Runs {instance_type}; no offering's limits apply to it.",
            )
        )
    elif instance_type in constraint.allowed_instance_types:
        out.append(Check(Control.INSTANCE_TYPE, CheckStatus.PASS, f"Runs {instance_type}."))
    else:
        allowed = ", ".join(constraint.allowed_instance_types)
        out.append(
            Check(
                Control.INSTANCE_TYPE,
                CheckStatus.FAIL,
                f"Runs {instance_type}; the offering now allows {allowed}.",
            )
        )
    return out


def _disagrees(status: str, config_status: str) -> bool:
    if status == CheckStatus.NOT_APPLICABLE or config_status not in {"COMPLIANT", "NON_COMPLIANT"}:
        return False
    return (status == CheckStatus.PASS) != (config_status == "COMPLIANT")


# --- the run --------------------------------------------------------------------------------


def _workspaces(team: Team | None) -> list[Workspace]:
    rows = Workspace.objects.filter(state__in=NOTEBOOK_STATES).select_related(
        "team", "project", "owner", "offering__constraint"
    )
    if team is not None:
        rows = rows.filter(team=team)
    return list(rows)


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _assign(
    notebooks: Iterable[Notebook],
    workspaces: list[Workspace],
    teams_by_slug: dict[str, Team],
) -> Iterator[tuple[Notebook, Team, Workspace | None]]:
    """Each notebook with its team and, when the portal launched it, its workspace."""
    by_id = {w.pk: w for w in workspaces}
    by_name = {w.notebook_name: w for w in workspaces}
    for notebook in notebooks:
        tagged_id = _as_uuid(notebook.tags.get("portal:workspace", ""))
        workspace = by_id.get(tagged_id) if tagged_id else None
        workspace = workspace or by_name.get(notebook.name)
        team = (
            workspace.team if workspace else teams_by_slug.get(notebook.tags.get("portal:team", ""))
        )
        if team is not None:
            yield notebook, team, workspace


def _score(passed: int, failed: int) -> Decimal | None:
    if passed + failed == 0:
        return None
    return (Decimal(100 * passed) / Decimal(passed + failed)).quantize(Decimal("0.1"))


def evaluate_compliance(*, actor: User | None = None, team: Team | None = None) -> EvaluationRun:
    """Evaluate every team's notebooks (or one team's), keep the results, return the run.

    AWS is read before the transaction opens, so a slow AWS never holds database locks.
    Transient AWS errors propagate (the task retries them); the run is then marked failed.
    """
    started = timezone.now()
    run = EvaluationRun.objects.create(started_at=started, actor=actor, team=team)
    call = _Calls()
    try:
        teams = [team] if team is not None else list(Team.objects.all())
        teams_by_slug = {t.slug: t for t in teams}
        settings_by_team = {s.team_id: s for s in TeamSettings.objects.filter(team__in=teams)}
        workspaces = _workspaces(team)
        notebooks = _tagged_notebooks(call, team)
        for name in list(notebooks):
            attributes = _describe(call, name)
            if attributes is None or attributes.get("NotebookInstanceStatus") == "Deleting":
                del notebooks[name]
            else:
                notebooks[name].attributes = attributes
        for workspace in workspaces:
            if workspace.notebook_name not in notebooks:
                found = _untagged_notebook(call, workspace)
                if (
                    found is not None
                    and found.attributes.get("NotebookInstanceStatus") != "Deleting"
                ):
                    notebooks[found.name] = found
        config, config_error = _config_results(call)
    except aws.AWS_ERRORS as error:
        _finish_failed(run, actor=actor, team=team, calls=call.count, error=error)
        raise
    return _record(
        run,
        actor=actor,
        team=team,
        assigned=list(_assign(notebooks.values(), workspaces, teams_by_slug)),
        teams=teams,
        settings_by_team=settings_by_team,
        config=config,
        note=config_error,
        calls=call.count,
    )


@transaction.atomic
def _finish_failed(
    run: EvaluationRun, *, actor: User | None, team: Team | None, calls: int, error: BaseException
) -> None:
    EvaluationRun.objects.filter(pk=run.pk).update(
        status=EvaluationRun.Status.FAILED,
        finished_at=timezone.now(),
        aws_calls=calls,
        error=aws.error_message(error)[:2000],
    )
    run.refresh_from_db()
    audit_record(
        actor=actor,
        action="compliance.evaluate",
        target=run,
        team=team,
        after={"status": run.status, "error": run.error},
    )


@transaction.atomic
def _record(
    run: EvaluationRun,
    *,
    actor: User | None,
    team: Team | None,
    assigned: list[tuple[Notebook, Team, Workspace | None]],
    teams: list[Team],
    settings_by_team: dict[int, TeamSettings],
    config: dict[Control, dict[str, tuple[str, str, str]]],
    note: str,
    calls: int,
) -> EvaluationRun:
    now = timezone.now()
    rows: list[ComplianceResult] = []
    for notebook, owner_team, workspace in assigned:
        for check in _checks(notebook, owner_team, settings_by_team.get(owner_team.pk), workspace):
            rule, config_status, annotation = config.get(check.control, {}).get(
                notebook.name, ("", "", "")
            )
            rows.append(
                ComplianceResult(
                    run=run,
                    team=owner_team,
                    evaluated_at=now,
                    workspace=workspace,
                    resource_name=notebook.name[:63],
                    resource_arn=notebook.arn[:300],
                    control=check.control,
                    status=check.status,
                    detail=check.detail,
                    config_rule=rule,
                    config_status=config_status,
                    config_annotation=annotation,
                    disagrees=_disagrees(check.status, config_status),
                )
            )
    ComplianceResult.objects.bulk_create(rows, batch_size=1000)
    ComplianceSummary.objects.bulk_create(_summaries(run, now, teams, rows))
    EvaluationRun.objects.filter(pk=run.pk).update(
        status=EvaluationRun.Status.SUCCEEDED,
        finished_at=now,
        resources=len(assigned),
        aws_calls=calls,
        error=note,
    )
    run.refresh_from_db()
    failing = {r.resource_name for r in rows if r.status == CheckStatus.FAIL}
    audit_record(
        actor=actor,
        action="compliance.evaluate",
        target=run,
        team=team,
        after={
            "status": run.status,
            "resources": run.resources,
            "noncompliant_resources": len(failing),
            "aws_calls": calls,
        },
        reason=note,
    )
    return run


def _summaries(
    run: EvaluationRun, now: dt.datetime, teams: list[Team], rows: list[ComplianceResult]
) -> list[ComplianceSummary]:
    per_team: dict[int, list[ComplianceResult]] = defaultdict(list)
    for row in rows:
        per_team[row.team_id].append(row)
    out = []
    for team in teams:
        mine = per_team.get(team.pk, [])
        passed = sum(1 for r in mine if r.status == CheckStatus.PASS)
        failed = sum(1 for r in mine if r.status == CheckStatus.FAIL)
        out.append(
            ComplianceSummary(
                run=run,
                team=team,
                evaluated_at=now,
                resources=len({r.resource_name for r in mine}),
                noncompliant_resources=len(
                    {r.resource_name for r in mine if r.status == CheckStatus.FAIL}
                ),
                unmanaged_resources=len({r.resource_name for r in mine if r.workspace is None}),
                checks_passed=passed,
                checks_failed=failed,
                disagreements=sum(1 for r in mine if r.disagrees),
                score=_score(passed, failed),
            )
        )
    return out
