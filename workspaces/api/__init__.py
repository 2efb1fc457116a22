"""The workspaces part of the v1 API: offerings, requests and decisions."""
