"""Routes for single sign-on and the group mappings (included from portal/urls.py)."""

from __future__ import annotations

from django.urls import include, path

from portal import sso_views

urlpatterns = [
    # mozilla-django-oidc's routes, served by portal.oidc's views (OIDC_*_CLASS settings):
    # /oidc/authenticate/, /oidc/callback/ and /oidc/logout/.
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("accounts/no-access/", sso_views.no_access, name="sso_no_access"),
    path("sign-in-groups/", sso_views.group_mapping_list, name="sso_group_mappings"),
    path(
        "sign-in-groups/<int:pk>/delete/",
        sso_views.group_mapping_delete,
        name="sso_group_mapping_delete",
    ),
]
