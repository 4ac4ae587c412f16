"""Where verify runs: a Target gives a Session to a Host and releases it after."""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siteproof.remote.base import Session
from siteproof.site import SiteProfile


@dataclass(frozen=True, slots=True)
class Host:
    """The machine a run uses, as the report and ``--keep`` hints name it.

    Attributes:
        kind: ``local``, ``ssh`` or ``aliyun``.
        address: host name or IP ("" for local).
        port: SSH port.
        user: SSH user.
        instance_id: cloud instance id, when rented.
        identity: private key file for the hint, if one was given.
        known_hosts: known_hosts file the host key was checked against.
    """

    kind: str
    address: str = ""
    port: int = 22
    user: str = ""
    instance_id: str = ""
    identity: str = ""
    known_hosts: str = ""

    @property
    def label(self) -> str:
        """Return e.g. ``local`` or ``root@198.51.100.2:22``."""
        if self.kind == "local":
            return "local"
        if not self.address:
            return f"{self.kind} (no host yet)"
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.user}@{address}:{self.port}"

    def shell_prefix(self, *, terminal: bool = False) -> str:
        """Return the ssh command that runs what follows on the host.

        Empty when local. *terminal* asks for a TTY, for interactive commands.
        """
        if self.kind == "local":
            return ""
        options = " -t" if terminal else ""
        if self.identity:
            options += f" -i {shlex.quote(self.identity)}"
        if self.known_hosts:
            options += f" -o UserKnownHostsFile={shlex.quote(self.known_hosts)}"
        return f"ssh{options} -p {self.port} {self.user}@{self.address} "


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """What the command line says about reaching a host."""

    identity: Path | None = None
    known_hosts: Path | None = None
    accept_new_host_key: bool = False
    connect_timeout_s: float = 20.0
    profile: SiteProfile | None = None
    endpoint: str = ""  # cloud API address override
    keep: bool = False  # leave what was rented for a look
    # Called with (what we wait for, seconds waited so far) during long waits.
    progress: Callable[[str, float], None] | None = None


class Target(ABC):
    """A way to get a host: this machine, an SSH server, a rented instance."""

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: str, options: TargetOptions) -> Target:
        """Build the target from its ``--target`` text.

        Raises:
            InputError: when the text does not describe this kind of target.
        """

    @property
    @abstractmethod
    def host(self) -> Host:
        """Return the host (complete once :meth:`open` returned)."""

    @abstractmethod
    def open(self) -> Session:
        """Get the host ready and return a session to it.

        Raises:
            InfraError: when the host cannot be had or reached.
        """

    def report_facts(self) -> dict[str, Any]:
        """Return what the report should say about how the host was had."""
        return {}

    def release(self) -> None:  # noqa: B027 - most targets have nothing to release
        """Give back what :meth:`open` acquired; safe to call twice.

        Raises:
            TeardownError: naming what could not be released.
        """
