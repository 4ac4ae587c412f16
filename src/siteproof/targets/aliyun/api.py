"""The one place that talks to the ECS API through the official SDK.

Requests are written with the API's own parameter names (``RegionId``,
``Tag``, ``SystemDisk``) and turned into the SDK's typed request models;
answers come back as the documented JSON shapes. Errors are sorted here:
transient ones are retried with backoff, capacity ones become
``CapacityError`` so the caller tries the next zone or type, and the ones a
person must fix stop the run with a ``ProvisionError`` naming the fix.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alibabacloud_ecs20140526 import models  # type: ignore[import-untyped]
from alibabacloud_ecs20140526.client import Client  # type: ignore[import-untyped]
from alibabacloud_tea_openapi.utils_models import (  # type: ignore[import-untyped]
    Config,
)
from darabonba.runtime import RuntimeOptions  # type: ignore[import-untyped]

from siteproof.errors import ProvisionError
from siteproof.targets.aliyun.credentials import credential_client

log = logging.getLogger(__name__)

# Codes that mean "not here, try another zone or instance type".
CAPACITY_CODES = frozenset(
    {
        "OperationDenied.NoStock",
        "Zone.NotOnSale",
        "InvalidInstanceType.ValueNotSupported",
        "InvalidInstanceType.NotSupported",
        "InvalidInstanceType.ZoneNotSupported",
        "InvalidZoneId.NotSupportShareEncryptedImage",
        "ImageNotSupportInstanceType",
        "InvalidResourceType.NotSupported",
        "OperationDenied.ZoneNotAllowed",
        "OperationDenied.ZoneSystemCategoryNotMatch",
        "InvalidSystemDiskCategory.ValueNotSupported",
    }
)

# Codes worth asking again after a pause.
TRANSIENT_CODES = frozenset(
    {
        "ServiceUnavailable",
        "InternalError",
        "UnknownError",
        "OperationConflict",
        "IdempotentProcessing",
        "LastTokenProcessing",
        "Rejected.Throttling",
    }
)

# Codes a person must act on, with the fix to name.
_FATAL_HINTS: tuple[tuple[str, str], ...] = (
    (
        "InvalidAccountStatus.NotEnoughBalance",
        "top up the Alibaba Cloud account (pay-as-you-go needs a positive balance)",
    ),
    ("Account.Arrearage", "settle the overdue payment of the Alibaba Cloud account"),
    ("InvalidAccountStatus", "check the account status in the Alibaba Cloud console"),
    (
        "QuotaExceed",
        "raise the quota in the ECS console (Quota Center) or release unused "
        "resources; `siteproof instances` lists leftovers",
    ),
    (
        "InvalidAccessKeyId",
        "check ALIBABA_CLOUD_ACCESS_KEY_ID or the aliyun CLI profile",
    ),
    ("SignatureDoesNotMatch", "check ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    ("IncompleteSignature", "check the access key pair in use"),
    ("InvalidSecurityToken", "refresh the STS token or the RAM role session"),
    ("Forbidden", "grant the RAM policy from the README to this access key"),
    ("NoPermission", "grant the RAM policy from the README to this access key"),
)


def fatal_hint(code: str) -> str | None:
    """Return the fix for a code that must stop the run at once, else None."""
    for prefix, hint in _FATAL_HINTS:
        if code == prefix or code.startswith(prefix + "."):
            return hint
    return None


def is_transient(code: str, status: int | None) -> bool:
    """Tell whether an API error is worth retrying after a pause."""
    if code in TRANSIENT_CODES or "Throttling" in code:
        return True
    return status is not None and status >= 500


class ApiError(ProvisionError):
    """An error answer from the ECS API that the caller may want to handle."""

    def __init__(
        self, action: str, code: str, message: str, status: int | None
    ) -> None:
        super().__init__(f"ECS {action} failed: {code}: {message}")
        self.action = action
        self.code = code
        self.api_message = message
        self.status = status


class CapacityError(ApiError):
    """No stock, zone not on sale, or the type is not offered there."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently transient API errors are retried.

    Attributes:
        attempts: calls in total, the first one included.
        first_delay_s: pause before the first retry; doubles each time.
        max_delay_s: the longest pause between two calls.
    """

    attempts: int = 6
    first_delay_s: float = 1.0
    max_delay_s: float = 20.0

    def delay_s(self, retry: int, retry_after_ms: int | None = None) -> float:
        """Return the pause before retry number ``retry`` (1-based)."""
        delay = min(self.first_delay_s * 2.0 ** (retry - 1), self.max_delay_s)
        if retry_after_ms:
            delay = max(delay, min(retry_after_ms / 1000, self.max_delay_s))
        return delay


def api_protocol(endpoint: str) -> str:
    """Return ``http`` for a loopback endpoint (tests, emulator), else ``https``."""
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host in ("localhost", "::1") or re.match(r"^127\.\d+\.\d+\.\d+$", host):
        return "http"
    return "https"


class EcsApi:
    """An ECS client for one region with retries and error translation."""

    def __init__(
        self,
        *,
        region: str,
        endpoint: str = "",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.region = region
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client, self._models = _make_client(region, endpoint)

    @property
    def where(self) -> str:
        """Return a log-safe name of the API this client talks to."""
        return f"ECS {self.region}" + (f" at {self.endpoint}" if self.endpoint else "")

    def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Call one API action, retrying transient failures.

        Args:
            action: the API name, e.g. ``DescribeInstances``.
            params: request parameters by their API names.

        Returns:
            The answer body as documented (``{"RequestId": ..., ...}``).

        Raises:
            CapacityError: for no stock and similar capacity answers.
            ApiError: for other error answers the caller may handle.
            ProvisionError: for errors a person must fix, and when retries
                are exhausted.
        """
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return self._call_once(action, params)
            except _TransientError as exc:
                if attempt == self.retry.attempts:
                    raise ProvisionError(
                        f"{self.where}: {action} kept failing after {attempt} "
                        f"attempts: {exc.reason}",
                        hint="the API is busy or unreachable; try again later",
                    ) from None
                delay = self.retry.delay_s(attempt, exc.retry_after_ms)
                log.warning(
                    "%s: %s (attempt %d of %d), retrying in %.1f s",
                    action,
                    exc.reason,
                    attempt,
                    self.retry.attempts,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call_once(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        method, request = self._request(action, params)
        log.debug("%s %s", action, _loggable(params))
        try:
            response = method(request, self._runtime())
        except Exception as exc:  # the SDK raises many kinds
            raise self._translate(action, exc) from exc
        body = response.body.to_map() if response.body is not None else {}
        return dict(body)

    def _request(self, action: str, params: Mapping[str, Any]) -> tuple[Any, Any]:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
        snake = snake.replace("v_switch", "vswitch")
        model = getattr(self._models, f"{action}Request")
        full = {"RegionId": self.region, **params}
        if action == "DeleteInstance":
            full.pop("RegionId")  # DeleteInstance has no RegionId
        request = model().from_map(full)
        unknown = set(full) - set(request.to_map())
        if unknown:
            raise AssertionError(f"{action}: unknown parameters {sorted(unknown)}")
        return getattr(self._client, f"{snake}_with_options"), request

    def _runtime(self) -> Any:
        return RuntimeOptions(read_timeout=30000, connect_timeout=10000)

    def _translate(self, action: str, exc: Exception) -> Exception:
        return translate_error(action, exc, self.where)


class _TransientError(Exception):
    def __init__(self, reason: str, retry_after_ms: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_ms = retry_after_ms


_NO_CREDENTIALS_HINT = (
    "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, "
    "or configure the aliyun CLI"
)


def translate_error(action: str, exc: Exception, where: str) -> Exception:
    """Turn an SDK exception into ApiError, ProvisionError or a retry signal."""
    code = getattr(exc, "code", None)
    inner = getattr(exc, "inner_exception", None)
    if code is None or inner is not None:
        return _transport_error(inner if inner is not None else exc, where)
    code = str(code)
    status = getattr(exc, "status_code", None)
    data = getattr(exc, "data", None)
    message = str(data.get("Message", "")) if isinstance(data, dict) else ""
    message = message or str(getattr(exc, "message", ""))
    hint = fatal_hint(code)
    if code == "InvalidCredentials":
        error: Exception = ProvisionError(
            f"no Alibaba Cloud credentials found for {where}",
            hint=_NO_CREDENTIALS_HINT,
        )
    elif hint is not None:
        error = ProvisionError(
            f"{where}: {action} refused: {code}: {message}", hint=hint
        )
    elif is_transient(code, status):
        retry_after = getattr(exc, "retry_after", None)
        error = _TransientError(f"{code} (HTTP {status})", retry_after)
    elif code in CAPACITY_CODES:
        error = CapacityError(action, code, message, status)
    else:
        error = ApiError(action, code, message, status)
    return error


def require_credentials(where: str) -> None:
    """Fail before anything is rented or journaled when no key is configured.

    Raises:
        ProvisionError: naming where credentials are looked for.
    """
    try:
        _credentials().get_credential()
    except Exception as exc:  # noqa: BLE001 - the SDK raises several kinds
        raise _transport_error(exc, where) from None


def _transport_error(cause: BaseException, where: str) -> Exception:
    """Sort an error that is not an API answer: credentials, or the network."""
    if "credential" in type(cause).__name__.lower():
        return ProvisionError(
            f"no Alibaba Cloud credentials found for {where}",
            hint=_NO_CREDENTIALS_HINT,
        )
    return _TransientError(f"cannot reach the API: {type(cause).__name__}")


_SECRET_PARAMS = re.compile(
    r"secret|password|securitytoken|userdata|publickeybody", re.IGNORECASE
)


def _loggable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the parameters with anything secret or bulky blanked out."""
    return {
        name: ("<redacted>" if _SECRET_PARAMS.search(name) else value)
        for name, value in params.items()
    }


@functools.cache
def _credentials() -> Any:
    """Return the credential chain, built once per process."""
    return credential_client()


def _make_client(region: str, endpoint: str) -> tuple[Any, Any]:
    config = Config(credential=_credentials(), region_id=region)
    if endpoint:
        config.endpoint = endpoint.split("://", 1)[-1]
        config.protocol = api_protocol(endpoint)
    return Client(config), models
