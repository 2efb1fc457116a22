"""The AWS operations the sandbox answers itself; importing this package registers them."""

from sandbox.services import costexplorer, sagemaker, servicecatalog  # noqa: F401
from sandbox.services import budgets, config  # noqa: E402,F401
