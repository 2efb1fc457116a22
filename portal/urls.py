from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import account_views, health, metrics, views

admin.site.site_header = "ML workspace portal administration"
admin.site.site_title = "Portal admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/", views.team_list, name="team_list"),
    path("teams/<slug:slug>/", views.team_detail, name="team_detail"),
    path("accounts/login/", views.PortalLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(template_name="registration/password_change.html"),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="registration/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("accounts/tokens/", account_views.account_tokens, name="account_tokens"),
    path(
        "accounts/tokens/<int:pk>/revoke/",
        account_views.account_token_revoke,
        name="account_token_revoke",
    ),
    path("", include("workspaces.urls")),
    path("", include("workspaces.schedule_urls")),
    path("", include("governance.urls")),
    path("", include("costs.urls")),
    path("", include("portal.sso_urls")),
    path("healthz", login_not_required(health.healthz), name="healthz"),
    path("readyz", login_not_required(health.readyz), name="readyz"),
    # Guarded by its own rule (portal/metrics.py): allowed networks or a bearer token.
    path("metrics", login_not_required(metrics.metrics_view), name="metrics"),
    path("api/v1/", include("portal.api.urls")),
    path("api/v1/", include("governance.api.urls")),
    path("api/v1/", include("costs.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # DRF views opt out of LoginRequiredMiddleware; the docs page is for people, so it redirects.
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
]

# The API's URLs answer errors Django raises before any DRF view in the API's JSON shape.
handler404 = "portal.api.errors.not_found"
handler500 = "portal.api.errors.server_error"
