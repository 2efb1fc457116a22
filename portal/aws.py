"""The only module that creates boto3 clients.

Region, endpoint (``AWS_ENDPOINT_URL``, the sandbox in local runs), retry mode ``standard``,
timeouts and optional role assumption with an external id are decided here, so every AWS
call the portal makes behaves the same way. Apps call small functions built on ``client``.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session
from django.conf import settings

from portal import metrics

# Errors worth retrying later (a task retry with backoff); botocore's standard mode has
# already retried these a few times within the call before they reach us.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
    }
)

# Apps catch these through the gateway, so they never import botocore themselves.
ClientError = botocore.exceptions.ClientError
AWS_ERRORS: tuple[type[Exception], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
)


def error_code(error: BaseException) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return type(error).__name__


_local = threading.local()
_session_lock = threading.Lock()
_session: boto3.session.Session | None = None


def is_transient(error: BaseException) -> bool:
    """True for throttling, 5xx and connection problems: try again later, not a user error."""
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_ERROR_CODES or status >= 500
    return isinstance(
        error,
        botocore.exceptions.ConnectionError
        | botocore.exceptions.HTTPClientError
        | botocore.exceptions.ReadTimeoutError,
    )


def error_message(error: BaseException) -> str:
    """AWS's own code and message, as shown to people on a failed workspace."""
    if isinstance(error, botocore.exceptions.ClientError):
        err = error.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    return str(error)


def _config() -> botocore.config.Config:
    return botocore.config.Config(
        region_name=settings.AWS_REGION,
        retries={"mode": "standard", "total_max_attempts": settings.AWS_MAX_ATTEMPTS},
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=settings.AWS_READ_TIMEOUT,
        user_agent_extra="ml-workspace-portal",
    )


def _assumed_role_session() -> boto3.session.Session:
    """A session whose credentials come from AssumeRole and refresh before they expire."""
    base = boto3.session.Session(region_name=settings.AWS_REGION)
    sts = base.client("sts", config=_config(), endpoint_url=settings.AWS_ENDPOINT_URL or None)

    def refresh() -> dict[str, Any]:
        params: dict[str, Any] = {
            "RoleArn": settings.AWS_ROLE_ARN,
            "RoleSessionName": "ml-workspace-portal",
            "DurationSeconds": 3600,
        }
        if settings.AWS_ROLE_EXTERNAL_ID:
            params["ExternalId"] = settings.AWS_ROLE_EXTERNAL_ID
        creds = sts.assume_role(**params)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    botocore_session = get_session()
    botocore_session._credentials = RefreshableCredentials.create_from_metadata(  # type: ignore[attr-defined]
        metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
    )
    return boto3.session.Session(botocore_session=botocore_session, region_name=settings.AWS_REGION)


def _shared_session() -> boto3.session.Session:
    global _session
    with _session_lock:
        if _session is None:
            if settings.AWS_ROLE_ARN:
                _session = _assumed_role_session()
            elif settings.AWS_SANDBOX_CREDENTIALS:
                _session = boto3.session.Session(
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",  # noqa: S106 (the sandbox accepts any)
                    region_name=settings.AWS_REGION,
                )
            else:
                _session = boto3.session.Session(region_name=settings.AWS_REGION)
        return _session


def client(service_name: str) -> Any:
    """A client for ``service_name``, cached per thread (boto3 clients are thread-safe to
    share, sessions are not, and one client per thread keeps connection pools warm)."""
    cache: dict[str, Any] = _local.__dict__.setdefault("clients", {})
    if service_name not in cache:
        cache[service_name] = metrics.instrument_aws_client(
            _shared_session().client(
                service_name,  # type: ignore[call-overload]
                config=_config(),
                endpoint_url=settings.AWS_ENDPOINT_URL or None,
            )
        )
    return cache[service_name]


def reset_clients() -> None:
    """Forget cached clients and session (tests that change settings, worker forks)."""
    global _session
    with _session_lock:
        _session = None
    _local.__dict__.pop("clients", None)


def caller_identity() -> dict[str, Any]:
    """Who the portal is in AWS; used by the readiness check. Costs nothing, needs no policy.

    One attempt with short timeouts: a readiness probe must answer quickly, not retry.
    """
    probe = _shared_session().client(
        "sts",
        config=_config().merge(
            botocore.config.Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=2,
                read_timeout=3,
            )
        ),
        endpoint_url=settings.AWS_ENDPOINT_URL or None,
    )
    response: dict[str, Any] = probe.get_caller_identity()
    return response
