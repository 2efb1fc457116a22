from django.urls import path

from portal.api import views

urlpatterns = [
    path("teams/", views.TeamListView.as_view(), name="api-team-list"),
]
