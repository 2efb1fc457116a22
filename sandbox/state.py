"""The sandbox's own state, kept per account and region as moto keeps its backends."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.services.budgets import Budget
    from sandbox.services.config import ConfigRule
    from sandbox.services.costexplorer.ledger import CostRow, TagStatus
    from sandbox.services.sagemaker import Notebook
    from sandbox.services.servicecatalog.models import CatalogStore

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(prefix: str, length: int = 13) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def stable_id(prefix: str, *parts: str, length: int = 13) -> str:
    """An id derived from names, so that seeded resources keep their ids across restarts."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return prefix + "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:length])


@dataclass
class RegionState:
    account: str
    region: str
    catalog: CatalogStore
    notebooks: dict[str, Notebook] = field(default_factory=dict)
    config_rules: dict[str, ConfigRule] = field(default_factory=dict)
    # authToken -> (notebook name, url expiry, session expiry)
    notebook_tokens: dict[str, tuple[str, dt.datetime, dt.datetime]] = field(default_factory=dict)


@dataclass
class AccountState:
    account: str
    regions: dict[str, RegionState] = field(default_factory=dict)
    # Seeded history and the usage of every notebook ever run (kept after deletion: AWS bills it).
    history: list[CostRow] = field(default_factory=list)
    notebooks_ever: list[Notebook] = field(default_factory=list)
    cost_tags: dict[str, TagStatus] = field(default_factory=dict)
    budgets: dict[str, Budget] = field(default_factory=dict)
    seeded: dict[str, Any] = field(default_factory=dict)


class SandboxState:
    def __init__(self) -> None:
        self.accounts: dict[str, AccountState] = {}

    def account(self, account: str) -> AccountState:
        if account not in self.accounts:
            self.accounts[account] = AccountState(account=account)
        return self.accounts[account]

    def region(self, account: str, region: str) -> RegionState:
        from sandbox.services.servicecatalog.models import CatalogStore

        acct = self.account(account)
        if region not in acct.regions:
            acct.regions[region] = RegionState(
                account=account, region=region, catalog=CatalogStore(account, region)
            )
        return acct.regions[region]

    def reset(self) -> None:
        self.accounts.clear()


state = SandboxState()
