from rest_framework import serializers

from portal.models import Team


class TeamOutSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)
    project_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ["slug", "name", "cost_center", "description", "member_count", "project_count"]
