"""``--target ssh://user@host[:port]``: any machine reachable over SSH."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from siteproof.errors import InputError
from siteproof.remote.base import Session
from siteproof.targets.base import Host, Target, TargetOptions

log = logging.getLogger(__name__)


class SshTarget(Target):
    """A host the team already has, reached with key authentication."""

    def __init__(self, host: Host, options: TargetOptions) -> None:
        """Remember where to connect and how."""
        self._host = host
        self._options = options
        self._session: Session | None = None

    @classmethod
    def from_spec(cls, spec: str, options: TargetOptions) -> SshTarget:
        """Parse ``ssh://user@host[:port]`` (user defaults to root).

        Raises:
            InputError: when the text is not such a URL.
        """
        host = parse_ssh_url(spec)
        identity = str(options.identity) if options.identity else ""
        known_hosts = str(options.known_hosts) if options.known_hosts else ""
        return cls(
            Host(
                "ssh",
                host.address,
                host.port,
                host.user,
                identity=identity,
                known_hosts=known_hosts,
            ),
            options,
        )

    @property
    def host(self) -> Host:
        """Return the host."""
        return self._host

    def open(self) -> Session:
        """Connect, checking the host key.

        Raises:
            ConnectError: when the host cannot be reached or refuses us.
        """
        from siteproof.remote.session import open_session  # noqa: PLC0415 - lazy

        options = self._options
        self._session = open_session(
            self._host.address,
            port=self._host.port,
            user=self._host.user,
            identity=options.identity,
            known_hosts=options.known_hosts,
            accept_new_host_key=options.accept_new_host_key,
            connect_timeout_s=options.connect_timeout_s,
        )
        return self._session

    def release(self) -> None:
        """Close the connection."""
        if self._session is not None:
            self._session.close()
            self._session = None


def parse_ssh_url(spec: str) -> Host:
    """Return the host of ``ssh://user@host[:port]``.

    Raises:
        InputError: naming what is wrong with the text.
    """
    try:
        parts = urlsplit(spec)
        port = parts.port or 22
    except ValueError:
        raise InputError(f"bad port in --target {spec}") from None
    if parts.scheme != "ssh" or not parts.hostname:
        raise InputError(
            f"--target {spec} is not ssh://user@host[:port]",
            hint="e.g. --target ssh://root@203.0.113.7 or --target local",
        )
    if parts.path not in ("", "/") or parts.query or parts.password:
        raise InputError(f"--target {spec}: only ssh://user@host[:port] is allowed")
    return Host("ssh", parts.hostname, port, parts.username or "root")
