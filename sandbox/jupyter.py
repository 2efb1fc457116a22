"""A small page standing in for Jupyter, opened through a presigned notebook URL."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.runtime import runtime
from sandbox.state import state

StartResponse = Callable[..., Any]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name} - Jupyter (sandbox)</title></head>
<body><main>
<h1>Jupyter</h1>
<p>Notebook instance <strong>{name}</strong> ({instance_type}) in {region}.</p>
<p>This page stands in for JupyterLab in the local sandbox. Session valid until {expires}.</p>
</main></body></html>
"""


def _page(start_response: StartResponse, status: str, text: str) -> Iterable[bytes]:
    data = text.encode()
    start_response(
        status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data)))]
    )
    return [data]


def notebook_page(
    path: str, query: dict[str, str], start_response: StartResponse
) -> Iterable[bytes]:
    from sandbox.services.sagemaker import region_notebooks

    parts = path.split("/")  # "", "_sandbox", "notebooks", account, region, name
    if len(parts) != 6:
        return _page(start_response, "404 Not Found", "<p>Not found</p>")
    _, _, _, account, region_name, name = parts
    with runtime.lock:
        region = state.region(account, region_name)
        grant = region.notebook_tokens.get(query.get("authToken", ""))
        now = runtime.clock.now()
        if grant is None or grant[0] != name:
            return _page(start_response, "403 Forbidden", "<p>Invalid or missing authToken</p>")
        _, url_expiry, session_expiry = grant
        if now > session_expiry or now > url_expiry:
            return _page(start_response, "403 Forbidden", "<p>This URL has expired</p>")
        # Once opened, the URL works for the whole session, as the Jupyter cookie does on AWS.
        region.notebook_tokens[query["authToken"]] = (name, session_expiry, session_expiry)
        notebook = region_notebooks(region).get(name)
        if notebook is None or notebook.status != "InService":
            status = notebook.status if notebook else "deleted"
            return _page(
                start_response,
                "409 Conflict",
                f"<p>Notebook instance {html.escape(name)} is {html.escape(status)}</p>",
            )
        return _page(
            start_response,
            "200 OK",
            PAGE.format(
                name=html.escape(name),
                instance_type=html.escape(notebook.moto.instance_type),
                region=html.escape(region_name),
                expires=session_expiry.isoformat(timespec="seconds"),
            ),
        )
