"""The image's own HEALTHCHECK turns healthy."""

from __future__ import annotations

import time
from dataclasses import dataclass

from siteproof.checks.base import POLL_INTERVAL_S, CheckContext, Status, remaining_s


@dataclass(frozen=True, slots=True)
class HealthcheckCheck:
    """Wait for Docker to call the container healthy; skip without HEALTHCHECK."""

    within_s: float = 120.0

    @property
    def name(self) -> str:
        """Return ``healthcheck``."""
        return "healthcheck"

    def evaluate(self, context: CheckContext) -> tuple[Status, str]:
        """Poll ``State.Health`` until healthy, unhealthy, or time is up."""
        deadline = time.monotonic() + self.within_s
        while True:
            health = context.state().get("Health")
            if not health:
                return Status.SKIP, "the image has no HEALTHCHECK"
            status = str(health.get("Status"))
            if status == "healthy":
                return Status.PASS, "healthy"
            if status == "unhealthy":
                return Status.FAIL, "unhealthy: " + _last_output(health)
            reason = context.stopped_reason()
            if reason or remaining_s(deadline) <= 0:
                why = reason or f"not healthy within {self.within_s:g} s"
                return Status.FAIL, f"{why} (health: {status})"
            time.sleep(min(POLL_INTERVAL_S, remaining_s(deadline)))


def _last_output(health: dict[str, object]) -> str:
    log = health.get("Log") or []
    if isinstance(log, list) and log and isinstance(log[-1], dict):
        return str(log[-1].get("Output", "")).strip()[-300:]
    return "no probe output"
