"""Output serializers for compliance and the audit trail (the API only reads)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from governance.models import AuditEvent
from portal.models import Team


class EvidenceOutSerializer(serializers.Serializer[Any]):
    """One control checked on one notebook: the same columns as the CSV and JSON exports."""

    id = serializers.IntegerField()
    evaluated_at = serializers.DateTimeField()
    run = serializers.IntegerField()
    team = serializers.SlugField()
    resource_name = serializers.CharField()
    resource_arn = serializers.CharField()
    managed = serializers.BooleanField(help_text="False for a notebook the portal did not launch.")
    workspace = serializers.CharField(help_text="The workspace's id; empty when unmanaged.")
    control = serializers.CharField()
    control_label = serializers.CharField()
    status = serializers.ChoiceField(choices=["pass", "fail", "not_applicable"])
    detail = serializers.CharField()
    config_rule = serializers.CharField(help_text="The matching AWS Config rule, if any.")
    config_status = serializers.CharField(help_text="AWS Config's ComplianceType for it.")
    disagrees = serializers.BooleanField()


class ControlCountOutSerializer(serializers.Serializer[Any]):
    control = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the field is named "label"
    passed = serializers.IntegerField()
    failed = serializers.IntegerField()
    not_applicable = serializers.IntegerField()


class SummaryOutSerializer(serializers.Serializer[Any]):
    evaluated_at = serializers.DateTimeField()
    score = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    resources = serializers.IntegerField()
    noncompliant_resources = serializers.IntegerField()
    unmanaged_resources = serializers.IntegerField()
    checks_passed = serializers.IntegerField()
    checks_failed = serializers.IntegerField()
    disagreements = serializers.IntegerField()


class TeamComplianceOutSerializer(serializers.Serializer[Any]):
    team = serializers.SlugField()
    latest = SummaryOutSerializer(allow_null=True, help_text="Empty before the first evaluation.")
    controls = ControlCountOutSerializer(many=True)
    count = serializers.IntegerField(help_text="Evidence rows matching the filters.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EvidenceOutSerializer(many=True)


class AuditEventOutSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.SerializerMethodField(help_text='A username, or "system".')
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "team",
            "before",
            "after",
            "reason",
            "request_id",
            "client_ip",
        ]

    def get_actor(self, event: AuditEvent) -> str:
        return event.actor.username if event.actor else "system"
