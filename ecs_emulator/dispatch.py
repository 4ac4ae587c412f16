"""From a signed HTTP request to a JSON answer: auth, faults, idempotency."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecs_emulator import signature
from ecs_emulator.actions import HANDLERS, IDEMPOTENT_ACTIONS
from ecs_emulator.actions.common import fingerprint
from ecs_emulator.errors import ApiError
from ecs_emulator.params import Params
from ecs_emulator.resources import CallRecord
from ecs_emulator.state import EmulatorState

log = logging.getLogger(__name__)

API_VERSION = "2014-05-26"
MAX_CLIENT_TOKEN = 64


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Call:
    action: str
    access_key_id: str
    params: Params


class Dispatcher:
    """Authenticate a request, apply faults, and run its action."""

    def __init__(self, state: EmulatorState, access_keys: Mapping[str, str]) -> None:
        self._state = state
        self._access_keys = dict(access_keys)

    def handle(self, request: signature.SignedRequest) -> Reply:
        """Answer one API request; errors become the ECS error envelope."""
        request_id = str(uuid.uuid4()).upper()
        action = request.headers.get("x-acs-action") or request.query.get("Action", "")
        params: dict[str, str] = {**request.query, **request.form}
        try:
            call = self._authenticate(request)
            action, params = call.action, call.params.as_dict()
            body = self._execute(call)
        except ApiError as error:
            self._record(action, params, error.status, error.code)
            log.debug("%s -> %s %s", action, error.status, error.code)
            return Reply(
                error.status, _error_body(error, request_id, request), error.headers
            )
        self._record(action, params, 200, "")
        return Reply(200, {"RequestId": request_id, **body})

    def _authenticate(self, request: signature.SignedRequest) -> _Call:
        if "authorization" in request.headers:
            return self._authenticate_v3(request)
        params = {**request.query, **request.form}
        if "Signature" in params:
            return self._authenticate_v1(request.method, params)
        raise ApiError(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )

    def _authenticate_v3(self, request: signature.SignedRequest) -> _Call:
        auth = signature.parse_authorization(request.headers["authorization"])
        signature.verify_v3(request, auth, self._secret(auth.access_key_id))
        self._check_version(request.headers.get("x-acs-version"))
        self._check_nonce(request.headers.get("x-acs-signature-nonce"))
        action = request.headers.get("x-acs-action", "")
        return _Call(
            action, auth.access_key_id, Params({**request.query, **request.form})
        )

    def _authenticate_v1(self, method: str, params: dict[str, str]) -> _Call:
        access_key_id = params.get("AccessKeyId", "")
        signature.verify_v1(method, params, self._secret(access_key_id))
        self._check_version(params.get("Version"))
        self._check_nonce(params.get("SignatureNonce"))
        business = {
            k: v for k, v in params.items() if k not in signature.V1_COMMON_PARAMETERS
        }
        return _Call(params.get("Action", ""), access_key_id, Params(business))

    def _secret(self, access_key_id: str) -> str:
        secret = self._access_keys.get(access_key_id)
        if secret is None:
            raise ApiError(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        return secret

    def _check_version(self, version: str | None) -> None:
        if version != API_VERSION:
            raise ApiError(
                400, "InvalidVersion", "Specified parameter Version is not valid."
            )

    def _check_nonce(self, nonce: str | None) -> None:
        if not nonce:
            raise ApiError(
                400,
                "MissingParameter",
                'The input parameter "SignatureNonce" that is mandatory '
                "for processing this request is not supplied.",
            )
        with self._state.lock:
            if nonce in self._state.nonces:
                raise ApiError(
                    400,
                    "SignatureNonceUsed",
                    "Specified signature nonce was used already.",
                )
            self._state.nonces.add(nonce)

    def _execute(self, call: _Call) -> dict[str, Any]:
        handler = HANDLERS.get(call.action)
        if handler is None:
            raise ApiError(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )
        fault = self._state.faults.take_call_fault(call.action)
        if fault is not None:
            raise fault
        self._state.tick()
        with self._state.lock:
            replay_key = self._replay_key(call)
            if replay_key is None:
                return handler(self._state, call.params)
            return self._idempotent(call, replay_key, handler)

    def _replay_key(self, call: _Call) -> tuple[str, str, str] | None:
        token = call.params.get("ClientToken")
        if call.action not in IDEMPOTENT_ACTIONS or token is None:
            return None
        if len(token) > MAX_CLIENT_TOKEN or not token.isascii():
            raise ApiError(
                400,
                "InvalidClientToken.ValueNotSupported",
                "The ClientToken provided is invalid.",
            )
        return (call.action, call.access_key_id, token)

    def _idempotent(
        self, call: _Call, key: tuple[str, str, str], handler: Any
    ) -> dict[str, Any]:
        digest = fingerprint(call.params, frozenset({"ClientToken"}))
        previous = self._state.idempotency.get(key)
        if previous is not None:
            if previous[0] != digest:
                raise ApiError(
                    400,
                    "IdempotentParameterMismatch",
                    "The specified ClientToken was used before with "
                    "different parameters.",
                )
            return dict(previous[1])
        body: dict[str, Any] = handler(self._state, call.params)
        self._state.idempotency[key] = (digest, dict(body))
        return body

    def _record(
        self, action: str, params: dict[str, str], status: int, code: str
    ) -> None:
        with self._state.lock:
            self._state.calls.append(CallRecord(action, dict(params), status, code))


def _error_body(
    error: ApiError, request_id: str, request: signature.SignedRequest
) -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "HostId": request.headers.get("host", "ecs.aliyuncs.com"),
        "Code": error.code,
        "Message": error.message,
        "Recommend": (
            f"https://api.aliyun.com/troubleshoot?q={error.code}&product=Ecs"
            f"&requestId={request_id}"
        ),
    }
