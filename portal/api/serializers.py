from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.settings import api_settings

from portal.models import Membership, Project, Team


class TeamOutSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)
    project_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ["slug", "name", "cost_center", "description", "member_count", "project_count"]


class ProjectRefSerializer(serializers.ModelSerializer[Project]):
    class Meta:
        model = Project
        fields = ["slug", "name", "description"]


class MemberOutSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)
    display_name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "display_name", "role"]


class TeamDetailOutSerializer(serializers.ModelSerializer[Team]):
    projects = ProjectRefSerializer(many=True, read_only=True, help_text="Active projects.")
    members = MemberOutSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["slug", "name", "cost_center", "description", "projects", "members"]


class ErrorOutSerializer(serializers.Serializer[Any]):
    """The body of every 401, 403, 404 and 409 answer."""

    detail = serializers.CharField()


def field_errors_serializer(name: str, fields: Iterable[str]) -> serializers.Serializer[Any]:
    """The body of a 400: each field that is wrong with its messages, and problems with the
    request as a whole under ``non_field_errors``. Used to document responses only."""
    listed = [*fields, api_settings.NON_FIELD_ERRORS_KEY]
    return inline_serializer(
        name=name,
        fields={
            field: serializers.ListField(child=serializers.CharField(), required=False)
            for field in listed
        },
    )
