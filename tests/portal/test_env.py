"""The settings readers: every bad value names its variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import env


def test_boolean_accepts_the_usual_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, expected in [("true", True), ("1", True), ("On", True), ("no", False), ("0", False)]:
        monkeypatch.setenv("X_FLAG", text)
        assert env.boolean("X_FLAG") is expected


def test_malformed_boolean_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false, not 'maybe'"):
        env.boolean("X_FLAG")


def test_malformed_integer_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_COUNT must be a whole number"):
        env.integer("X_COUNT", 1)


def test_integer_below_its_minimum_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_COUNT", "0")
    with pytest.raises(ImproperlyConfigured, match="X_COUNT must be at least 1"):
        env.integer("X_COUNT", 5, minimum=1)


def test_url_with_wrong_scheme_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_URL", "mysql://db/portal")
    with pytest.raises(ImproperlyConfigured, match="X_URL must be a URL starting with postgres://"):
        env.url("X_URL", schemes=("postgres",))


def test_value_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-from-file\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.string("X_SECRET") == "s3cr3t-from-file"


def test_unreadable_secret_file_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE points at"):
        env.string("X_SECRET")


def test_require_names_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_A", raising=False)
    monkeypatch.delenv("X_B", raising=False)
    monkeypatch.setenv("X_C", "set")
    with pytest.raises(ImproperlyConfigured, match="X_A, X_B"):
        env.require(["X_A", "X_B", "X_C"])
