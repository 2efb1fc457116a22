"""The operator's view of the catalog. Products and versions come only from Service Catalog (the
sync), so they are read-only here; offerings are published and their constraints changed
through the services, validated and audited like every other write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from governance.models import OfferingConstraint
from governance.services import CONSTRAINT_FIELDS, constraint_problems, constraint_update
from portal.models import Team, User
from workspaces import lifecycle, schedules
from workspaces.models import (
    CatalogSyncRun,
    ExpiryPolicy,
    ExtensionRequest,
    Offering,
    Product,
    ProductVersion,
    Workspace,
)
from workspaces.services import InvalidTransition, offering_publish
from workspaces.tasks import sync_catalog


def acting_user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def is_portal_admin(request: HttpRequest) -> bool:
    user = acting_user(request)
    return bool(user and user.is_active and user.is_staff and user.is_portal_admin)


class PortalAdminOnly(admin.ModelAdmin):
    """Staff status opens the admin site; the portal's admin role is what grants these pages
    (a superuser without it sees nothing, so roles stay the one source of authority)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_portal_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_portal_admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_portal_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_portal_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # catalog rows are referenced by workspaces and the audit trail


class ReadOnly(PortalAdminOnly):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VersionInline(admin.TabularInline):
    model = ProductVersion
    extra = 0
    can_delete = False
    fields = ["name", "artifact_id", "active", "guidance", "allowed_instance_types", "retired_at"]
    readonly_fields = ["name", "artifact_id", "active", "guidance", "allowed_instance_types",
                       "retired_at"]  # fmt: skip
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_portal_admin(request)


@admin.register(Product)
class ProductAdmin(ReadOnly):
    list_display = ["name", "product_id", "owner", "retired_at", "synced_at"]
    list_filter = [("retired_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "product_id"]
    inlines = [VersionInline]
    change_list_template = "admin/workspaces/product/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        sync = self.admin_site.admin_view(require_POST(self.sync_view))
        return [path("sync/", sync, name="workspaces_product_sync"), *super().get_urls()]

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        if not is_portal_admin(request):
            return HttpResponseRedirect(reverse("admin:login"))
        user = acting_user(request)
        # The task, not this request, talks to AWS: a slow or throttled Service Catalog must
        # not hold a web worker, and the task retries what is transient.
        sync_catalog.delay_on_commit(actor_id=user.pk if user else None)  # type: ignore[attr-defined]
        runs = reverse("admin:workspaces_catalogsyncrun_changelist")
        self.message_user(
            request,
            f"Catalog sync queued; its result appears under Catalog sync runs ({runs}).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:workspaces_product_changelist"))


@admin.register(ProductVersion)
class ProductVersionAdmin(ReadOnly):
    list_display = ["product", "name", "active", "guidance", "retired_at", "synced_at"]
    list_filter = ["active", "guidance", ("retired_at", admin.EmptyFieldListFilter)]
    search_fields = ["product__name", "name", "artifact_id"]
    list_select_related = ["product"]


@admin.register(CatalogSyncRun)
class CatalogSyncRunAdmin(ReadOnly):
    list_display = ["started_at", "finished_at", "added_count", "changed_count", "retired_count",
                    "error"]  # fmt: skip
    readonly_fields = ["started_at", "finished_at", "added", "changed", "retired", "error"]

    @admin.display(description="added")
    def added_count(self, run: CatalogSyncRun) -> int:
        return len(run.added)

    @admin.display(description="changed")
    def changed_count(self, run: CatalogSyncRun) -> int:
        return len(run.changed)

    @admin.display(description="retired")
    def retired_count(self, run: CatalogSyncRun) -> int:
        return len(run.retired)


# --- offerings and their constraints --------------------------------------------------------


def _instance_type_choices(versions: QuerySet[ProductVersion]) -> list[tuple[str, str]]:
    types = sorted({t for v in versions for t in v.allowed_instance_types})
    return [(t, t) for t in types]


def _requestable_versions() -> QuerySet[ProductVersion]:
    return ProductVersion.objects.filter(
        active=True, retired_at__isnull=True, product__retired_at__isnull=True
    ).select_related("product")


class PublishForm(forms.ModelForm):
    """Publishing asks for the offering and its first constraints together, as the service
    does; afterwards the constraint is changed on its own (inline below)."""

    version = forms.ModelChoiceField(queryset=ProductVersion.objects.none())
    allowed_instance_types = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    default_volume_gb = forms.IntegerField(min_value=1, initial=20)
    max_volume_gb = forms.IntegerField(min_value=1, initial=100)
    max_lifetime_days = forms.IntegerField(min_value=1, initial=90)
    max_live_per_user = forms.IntegerField(min_value=1, initial=2)
    max_live_per_team = forms.IntegerField(min_value=1, initial=20)
    stop_outside_working_hours = forms.BooleanField(required=False, initial=True)
    approval_required = forms.BooleanField(required=False, initial=True)

    class Meta:
        model = Offering
        fields = ["version", "title", "summary", "teams"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions = _requestable_versions()
        self.fields["version"].queryset = versions  # type: ignore[attr-defined]
        self.fields["allowed_instance_types"].choices = _instance_type_choices(versions)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        version = data.get("version")
        if version is not None:
            values = {k: data[k] for k in CONSTRAINT_FIELDS if k in data}
            problems = constraint_problems(version=version, values=values)
            if problems:
                raise ValidationError(problems)
        return data


class ConstraintForm(forms.ModelForm):
    allowed_instance_types = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = OfferingConstraint
        fields = list(CONSTRAINT_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        version = self.instance.offering.version if self.instance.pk else None
        allowed = version.allowed_instance_types if version else []
        self.fields["allowed_instance_types"].choices = [(t, t) for t in allowed]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk:
            values = {k: data[k] for k in CONSTRAINT_FIELDS if k in data}
            problems = constraint_problems(version=self.instance.offering.version, values=values)
            if problems:
                raise ValidationError(problems)
        return data


class ConstraintInline(admin.StackedInline):
    model = OfferingConstraint
    form = ConstraintForm
    can_delete = False
    extra = 0
    max_num = 1

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # created by publishing

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_portal_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_portal_admin(request)


@admin.register(Offering)
class OfferingAdmin(PortalAdminOnly):
    list_display = ["title", "version", "is_active", "team_list", "published_at"]
    list_filter = ["is_active", "teams"]
    search_fields = ["title", "version__product__name"]
    list_select_related = ["version__product"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Offering]:
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description="teams")
    def team_list(self, offering: Offering) -> str:
        return ", ".join(team.slug for team in offering.teams.all())

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = PublishForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["version", "title", "summary", "teams", *CONSTRAINT_FIELDS]
        return ["version", "title", "summary", "teams", "is_active", "published_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Only the constraint changes after publishing: there is no audited service yet for
        # retitling an offering or changing its teams (see the catalog issue's follow-ups).
        if obj is None:
            return []
        return ["version", "title", "summary", "teams", "is_active", "published_by"]

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return [ConstraintInline] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Offering, form: Any, change: bool) -> None:
        if change:
            return  # nothing on the offering itself is editable; the inline is saved below
        data = form.cleaned_data
        teams: list[Team] = list(data["teams"])
        published = offering_publish(
            actor=acting_user(request),
            version=data["version"],
            title=data["title"],
            summary=data["summary"],
            teams=teams,
            **{k: data[k] for k in CONSTRAINT_FIELDS},
        )
        obj.pk = published.pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Teams were set by the service; the inline goes through constraint_update.
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # The admin's change message reads what formset.save() would have recorded.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if not inline_form.has_changed() or not inline_form.instance.pk:
                continue
            data = inline_form.cleaned_data
            updated = constraint_update(
                actor=acting_user(request),
                constraint=OfferingConstraint.objects.get(pk=inline_form.instance.pk),
                **{k: data[k] for k in CONSTRAINT_FIELDS if k in inline_form.changed_data},
            )
            formset.changed_objects.append((updated, inline_form.changed_data))


# --- workspaces: read-only rows, stopped or terminated in bulk through the lifecycle ------------


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnly):
    """Every field read-only: a workspace changes only through its services, which check the
    state, write the audit event and hand the AWS side to a worker."""

    list_display = ["name", "team", "owner", "state", "end_date", "state_changed_at"]
    list_filter = ["state", "team"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["team", "owner"]
    ordering = ["-created_at"]
    actions = ["stop_selected", "terminate_selected"]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return is_portal_admin(request)

    def _bulk(
        self,
        request: HttpRequest,
        queryset: QuerySet[Workspace],
        service: Callable[..., Workspace],
        verb: str,
        doing: str,
    ) -> None:
        done: list[str] = []
        skipped: list[str] = []
        for workspace in queryset.select_related("team", "owner").order_by("name"):
            # One transaction per workspace (the service's): one refusal undoes nothing else.
            try:
                service(
                    actor=acting_user(request),
                    workspace=workspace,
                    reason=f"{doing} by an admin, with others at once.",
                )
            except InvalidTransition:
                skipped.append(f"{workspace.name} ({workspace.get_state_display().lower()})")
            else:
                done.append(workspace.name)
        if done:
            self.message_user(
                request, f"{doing} {len(done)} workspace(s): {', '.join(done)}.", messages.SUCCESS
            )
        if skipped:
            self.message_user(
                request,
                f"Skipped {len(skipped)} whose state does not allow them to {verb}: "
                f"{', '.join(skipped)}.",
                messages.WARNING,
            )

    @admin.action(description="Stop selected workspaces", permissions=["operate"])
    def stop_selected(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._bulk(request, queryset, lifecycle.workspace_stop, "stop", "Stopping")

    @admin.action(description="Terminate selected workspaces", permissions=["operate"])
    def terminate_selected(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._bulk(request, queryset, lifecycle.workspace_terminate, "terminate", "Terminating")


@admin.register(ExtensionRequest)
class ExtensionRequestAdmin(ReadOnly):
    """Decided on the approvers' extensions page, through the services."""

    list_display = ["workspace", "requested_by", "current_end_date", "new_end_date", "state",
                    "decided_by"]  # fmt: skip
    list_filter = ["state"]
    list_select_related = ["workspace__team", "requested_by", "decided_by"]


class ExpiryPolicyForm(forms.ModelForm):
    class Meta:
        model = ExpiryPolicy
        fields = ["team", "grace_days"]

    def clean_grace_days(self) -> int:
        days: int = self.cleaned_data["grace_days"]
        if days > schedules.MAX_GRACE_DAYS:
            raise ValidationError(f"At most {schedules.MAX_GRACE_DAYS} days.")
        return days


@admin.register(ExpiryPolicy)
class ExpiryPolicyAdmin(PortalAdminOnly):
    """A team's grace period between the end date (stop) and termination; teams without one
    get the default. Saved through ``schedules.expiry_policy_set`` (audited)."""

    form = ExpiryPolicyForm
    list_display = ["team", "grace_days", "updated_at"]
    list_select_related = ["team"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["team"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ExpiryPolicy, form: Any, change: bool) -> None:
        saved = schedules.expiry_policy_set(
            actor=acting_user(request), team=obj.team, grace_days=obj.grace_days
        )
        obj.pk = saved.pk
