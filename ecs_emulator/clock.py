"""The emulator's clock: real UTC time plus an offset that tests can advance."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class EmulatorClock:
    """Wall clock used for lifecycle delays and AutoReleaseTime.

    ``advance`` moves it forward without sleeping, so a test can make an
    instance reach its AutoReleaseTime at once.
    """

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the emulator's current time (timezone-aware UTC)."""
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError("the emulator clock cannot go backwards")
        with self._lock:
            self._offset += timedelta(seconds=seconds)


def format_minutes(moment: datetime) -> str:
    """Format like ECS instance times: ``yyyy-MM-ddTHH:mmZ``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def format_seconds(moment: datetime) -> str:
    """Format like ECS resource times: ``yyyy-MM-ddTHH:mm:ssZ``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime | None:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ`` (or without seconds); None if malformed."""
    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
