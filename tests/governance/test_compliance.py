"""Compliance evaluation against the sandbox: unmanaged notebooks, drift, history, AWS calls."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.compliance import evaluate_compliance
from governance.models import (
    AuditEvent,
    CheckStatus,
    ComplianceResult,
    ComplianceSummary,
    Control,
    EvaluationRun,
)
from tests.conftest import World
from tests.factories import published_offering
from tests.governance.support import (
    create_notebook,
    managed_workspace,
    team_tags,
    wait_for,
)
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.django_db


def failing(run: EvaluationRun, resource: str) -> set[str]:
    return set(
        ComplianceResult.objects.filter(
            run=run, resource_name=resource, status=CheckStatus.FAIL
        ).values_list("control", flat=True)
    )


def test_a_notebook_made_behind_the_portals_back_shows_as_unmanaged_and_non_compliant(
    portal_aws: Sandbox, world: World, client
) -> None:
    create_notebook(
        portal_aws, "rogue-notebook", team_tags(world.team), DirectInternetAccess="Enabled"
    )

    run = evaluate_compliance()

    assert failing(run, "rogue-notebook") == {Control.NO_INTERNET, Control.PORTAL_MANAGED}
    internet = ComplianceResult.objects.get(
        run=run, resource_name="rogue-notebook", control=Control.NO_INTERNET
    )
    assert internet.team == world.team
    assert internet.workspace is None
    assert internet.config_rule == "sagemaker-notebook-no-direct-internet-access"
    assert internet.config_status == "NON_COMPLIANT"
    assert not internet.disagrees
    client.force_login(world.approver)
    page = client.get(reverse("team_compliance", args=[world.team.slug]))
    html = page.content.decode()
    assert "rogue-notebook" in html
    assert "Unmanaged" in html
    assert "Direct internet access disabled" in html


def test_a_managed_workspace_whose_notebook_allows_root_turns_non_compliant_on_the_next_run(
    portal_aws: Sandbox, world: World
) -> None:
    workspace = managed_workspace(world, portal_aws)
    name = workspace.notebook_name
    first = evaluate_compliance()
    assert failing(first, name) == set()
    assert ComplianceSummary.objects.get(run=first, team=world.team).score == 100

    sagemaker = portal_aws.client("sagemaker")
    sagemaker.stop_notebook_instance(NotebookInstanceName=name)
    wait_for(sagemaker, name, "Stopped")
    sagemaker.update_notebook_instance(NotebookInstanceName=name, RootAccess="Enabled")
    wait_for(sagemaker, name, "Stopped")
    second = evaluate_compliance()

    assert failing(second, name) == {Control.NO_ROOT}
    root = ComplianceResult.objects.get(run=second, resource_name=name, control=Control.NO_ROOT)
    assert root.workspace == workspace
    assert root.config_status == "NON_COMPLIANT"
    summary = ComplianceSummary.objects.get(run=second, team=world.team)
    assert summary.noncompliant_resources == 1
    assert summary.score == pytest.approx(87.5)  # 7 of 8 controls pass
    # History: the first run's rows are untouched.
    assert failing(first, name) == set()


def test_the_portal_and_aws_config_disagreeing_is_flagged(
    portal_aws: Sandbox, world: World
) -> None:
    # Config's managed rule only asks for some key; the portal wants the team's own key.
    published_offering(world.team)
    create_notebook(
        portal_aws,
        "other-key",
        team_tags(world.team),
        KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/someone-elses",
    )
    run = evaluate_compliance()
    kms = ComplianceResult.objects.get(run=run, resource_name="other-key", control=Control.KMS_KEY)
    assert kms.status == CheckStatus.FAIL
    assert kms.config_status == "COMPLIANT"
    assert kms.disagrees


def test_an_evaluation_reads_aws_in_batches_and_writes_one_audit_event(
    portal_aws: Sandbox, world: World
) -> None:
    for i in range(3):
        create_notebook(portal_aws, f"extra-{i}", team_tags(world.team))
    portal_aws.control.reset_calls()

    run = evaluate_compliance(actor=world.admin)

    calls = portal_aws.control.calls()
    notebooks = 3 + 4  # ours, and the demo seed's four live notebooks of other agencies' teams
    assert calls.get("tagging:GetResources") == 1
    assert calls.get("sagemaker:DescribeNotebookInstance") == notebooks
    assert calls.get("config:DescribeComplianceByConfigRule") == 1
    assert calls.get("config:GetComplianceDetailsByConfigRule") == 5
    assert sum(calls.values()) == run.aws_calls
    event = AuditEvent.objects.get(action="compliance.evaluate")
    assert event.actor == world.admin
    assert event.target_id == str(run.pk)


def test_notebooks_of_teams_the_portal_does_not_know_are_left_alone(
    portal_aws: Sandbox, world: World
) -> None:
    run = evaluate_compliance()
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert not ComplianceResult.objects.filter(run=run).exists()
    assert ComplianceSummary.objects.filter(run=run).count() == 2
    assert ComplianceSummary.objects.get(run=run, team=world.team).score is None


def test_a_throttled_evaluation_is_marked_failed_and_raised_for_the_task_to_retry(
    portal_aws: Sandbox, world: World, settings
) -> None:
    from portal import aws

    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    portal_aws.control.throttle(operations=["tagging:GetResources"])
    with pytest.raises(aws.AWS_ERRORS) as caught:
        evaluate_compliance()
    assert aws.is_transient(caught.value)
    run = EvaluationRun.objects.get()
    assert run.status == EvaluationRun.Status.FAILED
    assert "Throttling" in run.error


def test_the_task_retries_a_throttled_evaluation_and_then_succeeds(
    portal_aws: Sandbox, world: World, settings
) -> None:
    from governance.tasks import evaluate_compliance_task
    from portal import aws

    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    portal_aws.control.throttle(operations=["tagging:GetResources"], count=1)

    result = evaluate_compliance_task.apply(kwargs={"team_id": world.team.pk})

    assert result.successful()
    statuses = list(EvaluationRun.objects.order_by("id").values_list("status", flat=True))
    assert statuses == [EvaluationRun.Status.FAILED, EvaluationRun.Status.SUCCEEDED]
    assert (
        EvaluationRun.objects.order_by("id").values_list("team", flat=True).last() == world.team.pk
    )
