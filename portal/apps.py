import logging

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Teams and people"

    def ready(self) -> None:
        # Registers the OpenAPI description of bearer tokens with drf-spectacular.
        # Connects the break-glass lockout receiver (audit + log) before any sign-in can happen,
        # not only once the URLconf has been imported.
        from portal import sso_views  # noqa: F401
        from portal.api import schema  # noqa: F401

        # Python's warnings become log records ("py.warnings", see LOGGING), so they are
        # written in the log's format (JSON in production) instead of as bare text.
        logging.captureWarnings(True)
