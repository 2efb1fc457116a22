from django.urls import path

from governance import views

urlpatterns = [
    path("compliance/", views.compliance_overview, name="compliance_overview"),
    path("compliance/evaluate/", views.compliance_evaluate, name="compliance_evaluate"),
    path("teams/<slug:slug>/compliance/", views.team_compliance, name="team_compliance"),
    path(
        "teams/<slug:slug>/compliance/evidence.csv",
        views.team_compliance_export,
        {"fmt": "csv"},
        name="team_compliance_csv",
    ),
    path(
        "teams/<slug:slug>/compliance/evidence.json",
        views.team_compliance_export,
        {"fmt": "json"},
        name="team_compliance_json",
    ),
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
]
