"""Input and output shapes of the workspaces API.

Inputs only turn identifiers into objects the caller may see; every rule about what may be
requested lives in ``workspaces.rules`` and is applied by the services.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.models import OfferingConstraint
from portal import selectors as portal_selectors
from portal.models import Project, Team, User
from workspaces import selectors
from workspaces.models import Offering, Workspace


def _caller(serializer: serializers.Serializer[Any]) -> User:
    user: User = serializer.context["request"].user
    return user


# --- offerings ------------------------------------------------------------------------------


class TeamRefSerializer(serializers.ModelSerializer[Team]):
    class Meta:
        model = Team
        fields = ["slug", "name"]
        read_only_fields = fields


class ConstraintOutSerializer(serializers.ModelSerializer[OfferingConstraint]):
    allowed_instance_types = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = OfferingConstraint
        fields = [
            "allowed_instance_types",
            "default_volume_gb",
            "max_volume_gb",
            "max_lifetime_days",
            "max_live_per_user",
            "max_live_per_team",
            "stop_outside_working_hours",
            "approval_required",
        ]
        read_only_fields = fields


class OfferingOutSerializer(serializers.ModelSerializer[Offering]):
    product = serializers.CharField(source="version.product.name", read_only=True)
    version = serializers.CharField(source="version.name", read_only=True)
    constraints = ConstraintOutSerializer(source="constraint", read_only=True)
    teams = serializers.SerializerMethodField(
        help_text="The teams this offering is published for that the caller belongs to."
    )

    class Meta:
        model = Offering
        fields = ["id", "title", "summary", "product", "version", "constraints", "teams"]
        read_only_fields = fields

    @extend_schema_field(TeamRefSerializer(many=True))
    def get_teams(self, offering: Offering) -> list[dict[str, Any]]:
        # Filtered in Python over the prefetched teams, so the list costs one query for all
        # rows; the caller must not learn which other teams an offering is published for.
        mine: set[int] = self.context["member_team_ids"]
        teams = sorted(
            (t for t in offering.teams.all() if t.pk in mine), key=lambda t: t.name.lower()
        )
        return list(TeamRefSerializer(teams, many=True).data)


# --- workspaces -----------------------------------------------------------------------------


class WorkspaceOutSerializer(serializers.ModelSerializer[Workspace]):
    team = serializers.SlugRelatedField[Team](slug_field="slug", read_only=True)
    project = serializers.SlugRelatedField[Project](slug_field="slug", read_only=True)
    owner = serializers.SlugRelatedField[User](slug_field="username", read_only=True)
    approver = serializers.SlugRelatedField[User](slug_field="username", read_only=True)
    offering_title = serializers.CharField(source="offering.title", read_only=True)

    class Meta:
        model = Workspace
        fields = [
            "id",
            "name",
            "state",
            "state_reason",
            "state_changed_at",
            "team",
            "project",
            "owner",
            "offering",
            "offering_title",
            "instance_type",
            "volume_size_gb",
            "end_date",
            "justification",
            "estimated_monthly_usd",
            "approver",
            "decided_at",
            "decision_reason",
            "budget_override_reason",
            "created_at",
        ]
        read_only_fields = fields


class WorkspaceRequestInSerializer(serializers.Serializer[Any]):
    """A request as the caller sends it. Blank names and justifications are let through so
    the request rules, not this serializer, say what is wrong with them."""

    offering = serializers.IntegerField(help_text="An offering id from GET /api/v1/offerings/.")
    team = serializers.SlugField(help_text="The slug of a team the caller belongs to.")
    project = serializers.SlugField(help_text="The slug of an active project of that team.")
    name = serializers.CharField(allow_blank=True, max_length=200)
    instance_type = serializers.CharField(max_length=64)
    volume_size_gb = serializers.IntegerField(min_value=0, max_value=65536)
    end_date = serializers.DateField(help_text="The last day of the workspace (ISO date).")
    justification = serializers.CharField(allow_blank=True)

    def validate_offering(self, value: int) -> Offering:
        # Only offerings the caller could see in the catalog resolve, so ids of other teams'
        # offerings read the same as ids that do not exist.
        offering = selectors.offerings_for(_caller(self)).filter(pk=value).first()
        if offering is None:
            raise serializers.ValidationError(f"No offering {value} that you may request.")
        return offering

    def validate_team(self, value: str) -> Team:
        team = portal_selectors.teams_visible_to(_caller(self)).filter(slug=value).first()
        if team is None:
            raise serializers.ValidationError(f"No team “{value}”.")
        return team

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        team: Team = attrs["team"]
        # Slugs are unique within a team only. Inactive projects still resolve so the request
        # rules can say why they cannot be used.
        project: Project | None = team.projects.filter(slug=attrs["project"]).first()
        if project is None:
            raise serializers.ValidationError(
                {"project": [f"{team.name} has no project “{attrs['project']}”."]}
            )
        return {**attrs, "project": project}


class ApproveInSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    budget_override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Required when the team's monthly budget is exhausted.",
    )


class RejectInSerializer(serializers.Serializer[Any]):
    # Optional here so that who may reject is settled (403) before what was sent (400); the
    # service refuses a missing or blank reason with a message naming this field.
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Required: why the request is rejected; the requester sees it.",
    )


class OpenOutSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(help_text="Opens the notebook; use it at once, it expires.")
    session_seconds = serializers.IntegerField(help_text="How long the notebook session lasts.")
