"""The catalog, workspace requests, approvals, provisioning and lifecycle (issues 4 and 5)."""
