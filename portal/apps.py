from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Teams and people"

    def ready(self) -> None:
        # Registers the OpenAPI description of bearer tokens with drf-spectacular.
        from portal.api import schema  # noqa: F401
