"""One helper for workspaces, shared by pages and API: 404 when the user may not see it,
403 when they may see it but not do this."""

from __future__ import annotations

import uuid
from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404

from portal.models import User
from workspaces import selectors
from workspaces.models import Workspace
from workspaces.services import can_decide


class WorkspaceAction(StrEnum):
    VIEW = "view"
    DECIDE = "decide"  # approve or reject: the team's approvers and admins, not the owner
    CANCEL = "cancel"  # the requester only
    OPERATE = "operate"  # open, stop, start, terminate, retry: the owner and admins


def can(user: User, workspace: Workspace, action: WorkspaceAction) -> bool:
    if action is WorkspaceAction.VIEW:
        return True  # visibility is the selector's job
    if action is WorkspaceAction.DECIDE:
        return can_decide(user, workspace)
    if action is WorkspaceAction.CANCEL:
        return workspace.owner_id == user.pk
    return workspace.owner_id == user.pk or user.is_portal_admin


def workspace_for_user(
    user: User, pk: uuid.UUID | str, action: WorkspaceAction = WorkspaceAction.VIEW
) -> Workspace:
    try:
        key = pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk))
    except ValueError:
        raise Http404("No such workspace.") from None
    workspace = selectors.workspaces_visible_to(user).filter(pk=key).first()
    if workspace is None:
        raise Http404("No such workspace.")
    if not can(user, workspace, action):
        raise PermissionDenied(f"You may not {action} this workspace.")
    return workspace
