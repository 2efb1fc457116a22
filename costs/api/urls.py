from django.urls import path

from costs.api import views

urlpatterns = [
    path("teams/<slug:slug>/costs/", views.TeamCostsView.as_view(), name="api-team-costs"),
    path("budgets/", views.BudgetListView.as_view(), name="api-budgets"),
    path("alerts/", views.AlertListView.as_view(), name="api-alerts"),
]
