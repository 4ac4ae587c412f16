"""Check request signatures exactly as the Alibaba Cloud SDKs compute them.

ACS3-HMAC-SHA256 (V3) is what ``alibabacloud-ecs20140526`` sends by default;
the RPC HMAC-SHA1 scheme (V1) is what older SDKs and ``signature_algorithm
='v2'`` send. See shared/aliyun-ecs.md section 1 for both algorithms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from ecs_emulator.errors import ApiError

V3_ALGORITHM = "ACS3-HMAC-SHA256"
V1_COMMON_PARAMETERS = frozenset(
    {
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "AccessKeyId",
        "Timestamp",
        "Format",
        "Version",
        "Action",
        "SecurityToken",
    }
)


@dataclass(frozen=True)
class SignedRequest:
    """What the signature check needs to know about one HTTP request."""

    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True)
class Authorization:
    """A parsed ``Authorization: ACS3-HMAC-SHA256 ...`` header."""

    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def percent_encode(value: str) -> str:
    """Encode like the SDKs: RFC 3986, only ``A-Za-z0-9-_.~`` kept."""
    return quote(value, safe="~", encoding="utf-8")


def parse_authorization(header: str) -> Authorization:
    """Parse a V3 Authorization header or raise IncompleteSignature."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != V3_ALGORITHM:
        raise _incomplete(f"unsupported signature algorithm {algorithm!r}")
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    missing = {"Credential", "SignedHeaders", "Signature"} - fields.keys()
    if missing:
        raise _incomplete(f"Authorization lacks {', '.join(sorted(missing))}")
    names = tuple(n for n in fields["SignedHeaders"].split(";") if n)
    return Authorization(fields["Credential"], names, fields["Signature"])


def v3_string_to_sign(request: SignedRequest, signed_headers: tuple[str, ...]) -> str:
    """Return the V3 string to sign for a request, as the SDK builds it."""
    query = "&".join(
        f"{key}={percent_encode(request.query[key])}" for key in sorted(request.query)
    )
    headers = "".join(
        f"{name}:{request.headers.get(name, '').strip()}\n"
        for name in sorted(signed_headers)
    )
    canonical = "\n".join(
        [
            request.method.upper(),
            request.path or "/",
            query,
            headers,
            ";".join(sorted(signed_headers)),
            hashlib.sha256(request.body).hexdigest(),
        ]
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{V3_ALGORITHM}\n{digest}"


def v3_signature(string_to_sign: str, secret: str) -> str:
    """Return the hex HMAC-SHA256 of a V3 string to sign."""
    key = secret.encode("utf-8")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_v3(request: SignedRequest, auth: Authorization, secret: str) -> None:
    """Raise SignatureDoesNotMatch unless the V3 signature is right."""
    unsigned = [
        name
        for name in request.headers
        if (name.startswith("x-acs-") or name == "host")
        and name not in auth.signed_headers
    ]
    if unsigned:
        raise _incomplete(f"header {unsigned[0]} must be signed")
    expected_hash = hashlib.sha256(request.body).hexdigest()
    if request.headers.get("x-acs-content-sha256", expected_hash) != expected_hash:
        raise _mismatch("x-acs-content-sha256 does not match the body")
    string_to_sign = v3_string_to_sign(request, auth.signed_headers)
    if not hmac.compare_digest(v3_signature(string_to_sign, secret), auth.signature):
        raise _mismatch(string_to_sign)


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """Return the RPC (V1) string to sign over every parameter but Signature."""
    pairs = "&".join(
        f"{percent_encode(k)}={percent_encode(params[k])}"
        for k in sorted(params)
        if k != "Signature"
    )
    return f"{method.upper()}&%2F&{percent_encode(pairs)}"


def v1_signature(string_to_sign: str, secret: str) -> str:
    """Return the base64 HMAC-SHA1 of a V1 string to sign."""
    key = f"{secret}&".encode()
    digest = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_v1(method: str, params: Mapping[str, str], secret: str) -> None:
    """Raise SignatureDoesNotMatch unless the V1 signature is right."""
    if params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
        raise _incomplete("only SignatureMethod=HMAC-SHA1 is supported")
    string_to_sign = v1_string_to_sign(method, params)
    given = params.get("Signature", "")
    if not hmac.compare_digest(v1_signature(string_to_sign, secret), given):
        raise _mismatch(string_to_sign)


def _mismatch(server_string: str) -> ApiError:
    """Return SignatureDoesNotMatch; the message must contain ``:``."""
    return ApiError(
        400,
        "SignatureDoesNotMatch",
        "Specified signature is not matched with our calculation. "
        f"server string to sign is:{server_string}",
    )


def _incomplete(reason: str) -> ApiError:
    """Return IncompleteSignature for a malformed signature."""
    return ApiError(
        400,
        "IncompleteSignature",
        f"The request signature does not conform to Aliyun standards: {reason}.",
    )
