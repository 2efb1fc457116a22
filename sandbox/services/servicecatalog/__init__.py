"""Service Catalog: portfolios, products, launch paths and provisioning of notebook products."""

from sandbox.services.servicecatalog import admin, provisioning  # noqa: F401  (registers handlers)
