from django.urls import include, path

from portal.api import views

urlpatterns = [
    path("teams/", views.TeamListView.as_view(), name="api-team-list"),
    path("teams/<slug:slug>/", views.TeamDetailView.as_view(), name="api-team-detail"),
    path("", include("workspaces.api.urls")),
]
