"""Exceptions that end a run, and the exit code each one maps to."""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INFRA = 3
EXIT_TEARDOWN = 4
EXIT_BUG = 70
EXIT_INTERRUPTED = 130


class SiteproofError(Exception):
    """Base of every error the CLI reports as one line instead of a traceback."""

    exit_code = EXIT_BUG

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(SiteproofError):
    """Bad flags, a bad site file, or a tarball that is not an image."""

    exit_code = EXIT_INPUT


class ArchiveError(InputError):
    """The tarball cannot be read as an image archive."""


class SiteFileError(InputError):
    """The site profile is missing, unreadable or invalid."""


class InfraError(SiteproofError):
    """The image was not judged: the host, engine or cloud failed us."""

    exit_code = EXIT_INFRA


class ConnectError(InfraError):
    """A host could not be reached, or refused our key, or its key is wrong."""


class ProvisionError(InfraError):
    """The cloud would not give us an instance."""


class CommandError(InfraError):
    """A command on the host failed where it had to succeed."""

    def __init__(
        self,
        message: str,
        *,
        command: str,
        exit_status: int | None,
        stderr_tail: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.command = command
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        text = f"{self.message} (exit {self.exit_status}: {self.command})"
        if self.stderr_tail:
            text += "\n" + self.stderr_tail
        return text


class TeardownError(SiteproofError):
    """Something rented or created could not be released."""

    exit_code = EXIT_TEARDOWN

    def __init__(
        self, message: str, *, resources: Sequence[str], hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.resources = tuple(resources)
