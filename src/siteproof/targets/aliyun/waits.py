"""Waiting with a deadline, progress and a message that says what stalled."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from siteproof.errors import ProvisionError

T = TypeVar("T")

# Called with (what we are waiting for, seconds waited so far).
WaitProgress = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long each phase of getting an instance may take, in seconds.

    Attributes:
        running_s: from RunInstances until the instance is ``Running``.
        public_ip_s: from ``Running`` until it has a public IP.
        ssh_s: until SSH answers with the host key we installed.
        user_data_s: until the first-boot script (Docker install) is done.
        poll_s: pause between two looks.
    """

    running_s: float = 600.0
    public_ip_s: float = 120.0
    ssh_s: float = 300.0
    user_data_s: float = 1200.0
    poll_s: float = 3.0


class Waiter:
    """Polls a probe until it returns a value or the deadline passes."""

    def __init__(
        self,
        *,
        poll_s: float,
        progress: WaitProgress | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.poll_s = poll_s
        self._progress = progress
        self._sleep = sleep

    def until(
        self,
        what: str,
        probe: Callable[[], T | None],
        *,
        deadline_s: float,
        failure: Callable[[float], ProvisionError],
    ) -> T:
        """Return the first non-None probe result.

        Args:
            what: progress text, e.g. ``waiting for i-abc to run``.
            probe: returns None while the condition does not hold yet.
            deadline_s: how long to wait.
            failure: builds the error from the seconds waited.

        Raises:
            ProvisionError: from ``failure`` once the deadline has passed.
        """
        start = time.monotonic()
        while True:
            result = probe()
            if result is not None:
                return result
            elapsed = time.monotonic() - start
            if self._progress is not None:
                self._progress(what, elapsed)
            if elapsed >= deadline_s:
                raise failure(elapsed)
            self._sleep(min(self.poll_s, max(deadline_s - elapsed, 0.05)))
