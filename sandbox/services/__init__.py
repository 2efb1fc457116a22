"""The AWS operations the sandbox answers itself; importing this package registers them."""

from sandbox.services import budgets, config, costexplorer, sagemaker, servicecatalog  # noqa: F401  # noqa: E402,F401
