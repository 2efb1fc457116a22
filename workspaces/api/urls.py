from django.urls import path

from workspaces.api import views

urlpatterns = [
    path("offerings/", views.OfferingListView.as_view(), name="api-offering-list"),
    path("workspaces/", views.WorkspaceListCreateView.as_view(), name="api-workspace-list"),
    path("workspaces/<uuid:pk>/", views.WorkspaceDetailView.as_view(), name="api-workspace-detail"),
    path(
        "workspaces/<uuid:pk>/approve/",
        views.WorkspaceApproveView.as_view(),
        name="api-workspace-approve",
    ),
    path(
        "workspaces/<uuid:pk>/reject/",
        views.WorkspaceRejectView.as_view(),
        name="api-workspace-reject",
    ),
    path(
        "workspaces/<uuid:pk>/cancel/",
        views.WorkspaceCancelView.as_view(),
        name="api-workspace-cancel",
    ),
    *(
        path(f"workspaces/<uuid:pk>/{action}/", view.as_view(), name=f"api-workspace-{action}")
        for action, view in (
            ("stop", views.WorkspaceStopView),
            ("start", views.WorkspaceStartView),
            ("terminate", views.WorkspaceTerminateView),
            ("retry", views.WorkspaceRetryView),
            ("open", views.WorkspaceOpenView),
        )
    ),
]
