from django.urls import path

from governance.api import views

urlpatterns = [
    path(
        "teams/<slug:slug>/compliance/",
        views.TeamComplianceView.as_view(),
        name="api-team-compliance",
    ),
    path("audit-events/", views.AuditEventListView.as_view(), name="api-audit-events"),
]
