"""Seed data sets loaded through the control endpoint or `--seed`."""

from __future__ import annotations

from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID


def seed(name: str, account: str = DEFAULT_ACCOUNT_ID, region: str = "us-east-1") -> dict[str, Any]:
    if name != "demo":
        raise ValueError(f"unknown seed {name!r}; known: demo")
    from sandbox.demo import seed_demo

    return seed_demo(account, region)
