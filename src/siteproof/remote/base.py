"""The contract every way of reaching a host fulfils: a Session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Called with (bytes done, bytes total) while a file travels.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command on the host did."""

    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def succeeded(self) -> bool:
        """Tell whether the command exited with status 0."""
        return self.exit_status == 0

    def stderr_tail(self, lines: int = 10) -> str:
        """Return the last lines of stderr, for error messages."""
        return "\n".join(self.stderr.rstrip().splitlines()[-lines:])


class Session(Protocol):
    """A connection to the host where the image is loaded and run."""

    @property
    def description(self) -> str:
        """Return a short, log-safe name such as ``root@198.51.100.2:22``."""
        ...

    def run(
        self,
        command: str | Sequence[str],
        *,
        timeout_s: float | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run a command (a shell string, or argv quoted for the shell)."""
        ...

    def upload(
        self,
        local_path: Path,
        remote_path: str,
        *,
        sha256: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Copy a file, resuming a partial copy, then verify its sha256 there.

        Raises:
            InfraError: when the copy fails or the checksum on the host differs.
        """
        ...

    def forward_port(
        self, remote_port: int, remote_host: str = "127.0.0.1"
    ) -> AbstractContextManager[int]:
        """Make a port on the host reachable here; yield the local port."""
        ...

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        ...
