"""The WSGI application: moto's server with the sandbox's operations, faults and controls in front.

Every AWS request is identified (service, operation, account, region), counted, exposed to the
faults switched on, then answered by a sandbox handler or passed to moto unchanged. Service
Catalog and the tagging API arrive as Smithy RPC v2 CBOR, which moto does not read, so calls the
sandbox does not answer itself are translated to JSON 1.1 for moto and back.
"""

from __future__ import annotations

import io
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from sandbox import control
from sandbox.protocol import AwsError, AwsRequest, decode_body, encode_body, encode_error
from sandbox.registry import HANDLERS
from sandbox.runtime import runtime
from sandbox.shapes import operation_model, service_model, timestamps_to_datetimes

log = logging.getLogger("sandbox")

StartResponse = Callable[..., Any]
_TICK_HOOKS: list[Callable[[bool], None]] = []


def on_tick(func: Callable[[bool], None]) -> Callable[[bool], None]:
    """Run `func(force)` under the state lock before AWS calls: the sandbox's background work,
    done lazily instead of in threads. `force` is set when the clock has just moved."""
    _TICK_HOOKS.append(func)
    return func


def run_ticks(force: bool = False) -> None:
    for hook in _TICK_HOOKS:
        hook(force)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _account_for(environ: dict[str, Any], access_key: str | None) -> str:
    import os

    # Same order as moto: environment, explicit header, the access key's IAM account, default.
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return str(environ["HTTP_X_MOTO_ACCOUNT_ID"])
    if access_key:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(access_key)
    return DEFAULT_ACCOUNT_ID


def identify(environ: dict[str, Any], body: bytes) -> AwsRequest | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return None
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
        access_key, _date, region, service, _ = scope.split("/")
    except ValueError:
        return None
    path = environ.get("PATH_INFO", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    content_type = environ.get("CONTENT_TYPE", "")
    if target:
        wire, op = "json", target.rsplit(".", 1)[-1]
    elif path.startswith("/service/") and "/operation/" in path:
        wire, op = "cbor", path.rsplit("/", 1)[-1]
    elif content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        wire, op = "query", form.get("Action", ["Unknown"])[0]
    else:
        wire, op = "rest", environ.get("REQUEST_METHOD", "GET")
    host = environ.get("HTTP_HOST", "127.0.0.1")
    return AwsRequest(
        service=service,
        operation=op,
        region=region,
        account=_account_for(environ, access_key),
        params={},
        wire=wire,
        host_url=f"http://{host}",
    )


class SandboxApp:
    def __init__(self) -> None:
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            return control.handle(environ, start_response)
        if path.rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            result = self.moto(environ, start_response)
            with runtime.lock:
                control.reset_sandbox()
            return result
        body = _read_body(environ)
        req = identify(environ, body)
        if req is None:
            return self.moto(environ, start_response)
        try:
            return self._aws(req, environ, body, start_response)
        except AwsError as exc:
            return self._error(exc, req.wire, start_response)
        except Exception:  # a bug here must still answer in AWS's shape, never an HTML page
            log.error("sandbox error in %s\n%s", req.key, traceback.format_exc())
            return self._error(
                AwsError("InternalFailure", "The sandbox failed to handle this request", 500),
                req.wire,
                start_response,
            )

    def _aws(
        self, req: AwsRequest, environ: dict[str, Any], body: bytes, start_response: StartResponse
    ) -> Iterable[bytes]:
        delay = runtime.faults.latency_seconds(req.key)
        if delay:
            time.sleep(delay)
        throttled = runtime.faults.should_throttle(req.key)
        runtime.calls.record(req.key, throttled=throttled)
        if throttled:
            raise AwsError(
                "Throttling" if req.wire == "query" else "ThrottlingException", "Rate exceeded"
            )
        handler = HANDLERS.get(req.key)
        if handler is None:
            if req.wire == "cbor":
                return self._moto_via_json(req, environ, body, start_response)
            with runtime.lock:
                run_ticks()
            return self.moto(environ, start_response)
        req.params = decode_body(body, req.wire)
        with runtime.lock:
            run_ticks()
            payload = handler(req)
        data, headers = encode_body(payload, req.wire)
        start_response("200 OK", [*headers.items(), ("Content-Length", str(len(data)))])
        return [data]

    def _moto_via_json(
        self, req: AwsRequest, environ: dict[str, Any], body: bytes, start_response: StartResponse
    ) -> Iterable[bytes]:
        params = decode_body(body, "cbor")
        model = service_model(req.service)
        json_body = json.dumps(params, default=lambda v: v.timestamp()).encode()
        inner = dict(environ)
        inner.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.1",
                "CONTENT_LENGTH": str(len(json_body)),
                "HTTP_X_AMZ_TARGET": f"{model.metadata['targetPrefix']}.{req.operation}",
                "wsgi.input": io.BytesIO(json_body),
            }
        )
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"] = int(status.split()[0])

        raw = b"".join(self.moto(inner, capture))
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            decoded = {"__type": "InternalFailure", "message": raw.decode("utf-8", "replace")}
        if captured["status"] >= 300:
            code = str(decoded.get("__type", "InternalFailure")).rsplit("#", 1)[-1]
            message = decoded.get("message") or decoded.get("Message") or ""
            raise AwsError(code, message, captured["status"])
        shape = operation_model(req.service, req.operation).output_shape
        payload = timestamps_to_datetimes(decoded, shape)
        data, headers = encode_body(payload, "cbor")
        start_response("200 OK", [*headers.items(), ("Content-Length", str(len(data)))])
        return [data]

    @staticmethod
    def _error(exc: AwsError, wire: str, start_response: StartResponse) -> Iterable[bytes]:
        if wire in ("query", "rest"):
            data = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{exc.code}</Code><Message>{exc.message}</Message></Error>"
                "<RequestId>sandbox</RequestId></ErrorResponse>"
            ).encode()
            headers = {"Content-Type": "text/xml"}
            status = exc.status
        else:
            status, data, headers = encode_error(exc, wire)
        reason = "Bad Request" if status < 500 else "Internal Server Error"
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(data)))])
        return [data]
