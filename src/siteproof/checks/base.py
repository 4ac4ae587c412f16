"""What every runtime check shares: the Check protocol, its result and context."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from siteproof.remote.base import Session
from siteproof.remote.docker import DockerEngine

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5

# Said when the host accepts on a published port but the container does not.
LOOPBACK_HINT = (
    "the port is published but nothing answers inside the container: "
    "does the app listen on 127.0.0.1 only? it must listen on 0.0.0.0"
)
_PROXY_SYMPTOMS = ("closed at once", "reset by peer", "without response")


def explain_refusal(last: str, reason: str | None) -> str:
    """Return a hint when a running container's port was refused, else ""."""
    if reason is None and any(symptom in last for symptom in _PROXY_SYMPTOMS):
        return LOOPBACK_HINT
    return ""


class Status(enum.Enum):
    """How a check ended."""

    PASS = "pass"
    FAIL = "fail"  # the image misbehaved
    ERROR = "error"  # the check itself could not be carried out
    SKIP = "skip"  # nothing to check (e.g. the image has no HEALTHCHECK)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check, with what it saw and how long it took."""

    name: str
    status: Status
    detail: str
    duration_s: float

    @property
    def passed(self) -> bool:
        """Tell whether the check passed."""
        return self.status is Status.PASS

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "name": self.name,
            "status": str(self.status),
            "detail": self.detail,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a check may look at: the host, its engine and the container.

    Attributes:
        session: the connection to the host.
        engine: the host's Docker engine.
        container: name of the container under test.
        started_at: ``time.monotonic()`` when ``docker run`` returned.
        start_error: what ``docker run`` printed when it failed, else "".
    """

    session: Session
    engine: DockerEngine
    container: str
    started_at: float
    start_error: str = ""

    def state(self) -> dict[str, Any]:
        """Return the container's ``State`` (empty when the container is gone)."""
        document = self.engine.inspect_container(self.container)
        return dict(document.get("State") or {}) if document else {}

    def restart_count(self) -> int:
        """Return how often Docker restarted the container."""
        document = self.engine.inspect_container(self.container) or {}
        return int(document.get("RestartCount") or 0)

    def stopped_reason(self) -> str | None:
        """Tell why waiting for the container is pointless, or None.

        A container that exited, never started, or was restarted will not
        start answering; polling it until the deadline only wastes time.
        """
        if self.start_error:
            return "the container did not start"
        document = self.engine.inspect_container(self.container)
        if document is None:
            return "the container is gone"
        state = document.get("State") or {}
        restarts = int(document.get("RestartCount") or 0)
        if restarts:
            return f"the container restarted {restarts} times"
        if not state.get("Running") or state.get("Restarting"):
            return f"the container exited with code {state.get('ExitCode')}"
        return None


class Check(Protocol):
    """One thing to prove about the running container."""

    @property
    def name(self) -> str:
        """Return a short, stable name such as ``http 127.0.0.1:8080/``."""
        ...

    def evaluate(self, context: CheckContext) -> tuple[Status, str]:
        """Look at the container and return a status with a one-line detail."""
        ...


def run_check(check: Check, context: CheckContext) -> CheckResult:
    """Run one check; an exception inside it becomes Status.ERROR."""
    started = time.monotonic()
    try:
        status, detail = check.evaluate(context)
    except Exception as exc:
        log.debug("check %s raised", check.name, exc_info=True)
        status, detail = Status.ERROR, f"{type(exc).__name__}: {exc}"
    result = CheckResult(check.name, status, detail, time.monotonic() - started)
    log.info("check %s: %s (%.1f s) %s", check.name, status, result.duration_s, detail)
    return result


def run_checks(checks: Iterable[Check], context: CheckContext) -> list[CheckResult]:
    """Run checks in order and return every result."""
    return [run_check(check, context) for check in checks]


def remaining_s(deadline: float) -> float:
    """Return the seconds left until a ``time.monotonic()`` deadline."""
    return max(0.0, deadline - time.monotonic())
