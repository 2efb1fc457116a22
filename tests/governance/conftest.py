"""Fixtures for the governance tests."""

from tests.governance.support import portal_aws  # noqa: F401 (fixture)
