"""Where the access key comes from: the usual Alibaba Cloud credential chain.

In order: the environment (``ALIBABA_CLOUD_ACCESS_KEY_ID``,
``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, optional ``ALIBABA_CLOUD_SECURITY_TOKEN``),
the aliyun CLI's profile (``~/.aliyun/config.json``, which may itself assume
a RAM role), the credentials file (``~/.alibabacloud/credentials.ini``), and
the RAM role of the ECS instance we run on.

Two deliberate differences from the SDK's default chain: the environment is
read when credentials are needed (the SDK reads it once, at import), and the
instance metadata service is asked only when ``ALIBABA_CLOUD_ECS_METADATA``
names the role, so siteproof never probes 100.100.100.200 by surprise.
Nothing here logs a secret.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from alibabacloud_credentials.client import (  # type: ignore[import-untyped]
    Client as CredentialClient,
)
from alibabacloud_credentials.exceptions import (  # type: ignore[import-untyped]
    CredentialException,
)
from alibabacloud_credentials.provider import (  # type: ignore[import-untyped]
    CLIProfileCredentialsProvider,
    EcsRamRoleCredentialsProvider,
    ProfileCredentialsProvider,
)
from alibabacloud_credentials.provider.refreshable import (  # type: ignore[import-untyped]
    Credentials,
)
from alibabacloud_credentials_api import (  # type: ignore[import-untyped]
    ICredentialsProvider,
)

log = logging.getLogger(__name__)

ROLE_VARIABLE = "ALIBABA_CLOUD_ECS_METADATA"


class CredentialChain(ICredentialsProvider):  # type: ignore[misc]
    """The credential chain described in the module docstring."""

    def __init__(self) -> None:
        self._last: Any = None

    def get_credentials(self) -> Any:
        """Return credentials from the first source that has them.

        Raises:
            CredentialException: when no source has any (names the sources).
        """
        from_env = _environment()
        if from_env is not None:
            return from_env
        if self._last is not None:
            return self._last.get_credentials()
        tried = ["environment"]
        for name, provider in _file_and_role_providers():
            try:
                credentials = provider.get_credentials()
            except (CredentialException, ValueError, OSError) as exc:
                log.debug("no credentials from %s: %s", name, type(exc).__name__)
                tried.append(name)
                continue
            self._last = provider
            log.debug("using credentials from %s", name)
            return credentials
        raise CredentialException("no credentials in: " + ", ".join(tried))

    async def get_credentials_async(self) -> Any:
        """Return credentials (the SDK's async clients ask this way)."""
        return self.get_credentials()

    def get_provider_name(self) -> str:
        """Return the name the SDK shows for this provider."""
        return "siteproof-chain"


def _environment() -> Any:
    key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
    secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if not (key_id and secret):
        return None
    return Credentials(
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None,
        provider_name="env",
    )


def _file_and_role_providers() -> list[tuple[str, Any]]:
    providers: list[tuple[str, Any]] = [
        ("aliyun CLI profile", CLIProfileCredentialsProvider()),
        ("credentials file", ProfileCredentialsProvider()),
    ]
    role = os.environ.get(ROLE_VARIABLE, "")
    disabled = os.environ.get("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "")
    if role and disabled.lower() != "true":
        providers.append(
            (
                f"ECS RAM role {role}",
                EcsRamRoleCredentialsProvider(
                    role_name=role, async_update_enabled=False
                ),
            )
        )
    return providers


def credential_client() -> Any:
    """Return an SDK credential client backed by :class:`CredentialChain`."""
    return CredentialClient(provider=CredentialChain())
