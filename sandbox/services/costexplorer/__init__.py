"""Cost Explorer: a usage ledger from notebook run time and storage, with AWS's query semantics."""

from sandbox.services.costexplorer import handlers  # noqa: F401  (registers handlers)
