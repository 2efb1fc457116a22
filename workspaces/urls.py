from django.urls import path

from workspaces import views

urlpatterns = [
    path("catalog/", views.catalog, name="catalog"),
    path("workspaces/", views.my_workspaces, name="my_workspaces"),
    path(
        "workspaces/request/<int:offering_id>/", views.request_workspace, name="workspace_request"
    ),
    path("workspaces/estimate/", views.estimate, name="workspace_estimate"),
    path("workspaces/<uuid:pk>/", views.workspace_detail, name="workspace_detail"),
    path("workspaces/<uuid:pk>/decide/", views.workspace_decide, name="workspace_decide"),
    path("workspaces/<uuid:pk>/cancel/", views.workspace_cancel, name="workspace_cancel"),
    path("workspaces/<uuid:pk>/open/", views.workspace_open, name="workspace_open"),
    path(
        "workspaces/<uuid:pk>/<str:action>/",
        views.workspace_operate,
        name="workspace_operate",
    ),
    path("approvals/", views.approval_queue, name="approval_queue"),
    path("teams/<slug:slug>/workspaces/", views.team_workspaces, name="team_workspaces"),
    path("notifications/", views.notifications, name="notifications"),
]
