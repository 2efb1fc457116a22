from django.urls import path

from costs import views

urlpatterns = [
    path("costs/", views.dashboard, name="costs_dashboard"),
    path("costs/export.csv", views.dashboard, {"fmt": "csv"}, name="costs_dashboard_csv"),
    path("costs/alerts/", views.alert_list, name="cost_alerts"),
    path(
        "costs/alerts/<int:pk>/acknowledge/",
        views.alert_acknowledge,
        name="cost_alert_acknowledge",
    ),
    path("costs/teams/<slug:slug>/", views.team_costs, name="team_costs"),
    path(
        "costs/teams/<slug:slug>/export.csv",
        views.team_costs,
        {"fmt": "csv"},
        name="team_costs_csv",
    ),
    path("costs/teams/<slug:slug>/budget/", views.team_budget, name="team_budget"),
    path(
        "costs/teams/<slug:slug>/projects/<slug:project_slug>/",
        views.project_costs,
        name="project_costs",
    ),
    path(
        "costs/teams/<slug:slug>/projects/<slug:project_slug>/export.csv",
        views.project_costs,
        {"fmt": "csv"},
        name="project_costs_csv",
    ),
    path("costs/workspaces/<uuid:pk>/", views.workspace_costs, name="workspace_costs"),
    path(
        "costs/workspaces/<uuid:pk>/export.csv",
        views.workspace_costs,
        {"fmt": "csv"},
        name="workspace_costs_csv",
    ),
]
