from django import template

from workspaces.models import State

register = template.Library()


@register.filter
def state_label(value: str) -> str:
    """The human label of a state name (``pending_approval`` → ``Pending approval``)."""
    try:
        return str(State(value).label)
    except ValueError:
        return value


@register.filter
def action_label(action: str) -> str:
    """An audit action as a timeline heading (``workspace.keep_running`` → ``Keep running``)."""
    return action.rsplit(".", 1)[-1].replace("_", " ").capitalize()
