"""Working hours and end dates (``workspaces/schedule_views.py``). Each workspace URL has two
segments after the id, so it never meets ``workspaces/<uuid:pk>/<str:action>/``."""

from django.urls import path

from workspaces import schedule_views

urlpatterns = [
    path(
        "workspaces/<uuid:pk>/schedule/keep-running/",
        schedule_views.keep_running,
        name="workspace_keep_running",
    ),
    path(
        "workspaces/<uuid:pk>/schedule/keep-running/end/",
        schedule_views.keep_running_end,
        name="workspace_keep_running_end",
    ),
    path(
        "workspaces/<uuid:pk>/schedule/extension/",
        schedule_views.extension_request,
        name="workspace_extension_request",
    ),
    path("extensions/", schedule_views.extension_queue, name="extension_queue"),
    path("extensions/<int:pk>/decide/", schedule_views.extension_decide, name="extension_decide"),
]
