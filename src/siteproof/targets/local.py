"""``--target local``: this machine's Docker engine."""

from __future__ import annotations

from siteproof.errors import InputError
from siteproof.remote.base import Session
from siteproof.remote.local import LocalSession
from siteproof.targets.base import Host, Target, TargetOptions


class LocalTarget(Target):
    """Run on this machine; foreign architectures run under QEMU if registered."""

    def __init__(self) -> None:
        """Prepare a target without a session yet."""
        self._session: LocalSession | None = None

    @classmethod
    def from_spec(cls, spec: str, options: TargetOptions) -> LocalTarget:
        """Accept exactly ``local``."""
        if spec != "local":
            raise InputError(f"not a local target: {spec}")
        return cls()

    @property
    def host(self) -> Host:
        """Return the local host."""
        return Host(kind="local")

    def open(self) -> Session:
        """Return a local session."""
        self._session = LocalSession()
        return self._session

    def release(self) -> None:
        """Close the session."""
        if self._session is not None:
            self._session.close()
            self._session = None
