"""The record every static check produces: a Finding."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """How bad a finding is; higher is worse, so findings sort by it."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """One predicted problem (or noteworthy fact) about the image at the site.

    Attributes:
        severity: error (the site will fail), warning (it may), info.
        code: short stable identifier, e.g. ``platform-mismatch``.
        message: what will happen at the site, in one sentence.
        path: the path inside the image it concerns, if any.
        hint: how to fix it, if there is a usual fix.
    """

    severity: Severity
    code: str
    message: str
    path: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """Return the finding as plain JSON-ready data."""
        return {
            "severity": str(self.severity),
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }
