"""The container is still running after a settle time, never restarted, not OOM."""

from __future__ import annotations

import time
from dataclasses import dataclass

from siteproof.checks.base import CheckContext, Status

LOG_LINES = 5


@dataclass(frozen=True, slots=True)
class AliveCheck:
    """Wait *settle_s* after the start, then require a running container."""

    settle_s: float = 5.0

    @property
    def name(self) -> str:
        """Return ``alive``."""
        return "alive"

    def evaluate(self, context: CheckContext) -> tuple[Status, str]:
        """Judge the container's state once the settle time is over."""
        if context.start_error:
            return Status.FAIL, f"did not start: {context.start_error}"
        time.sleep(max(0.0, context.started_at + self.settle_s - time.monotonic()))
        document = context.engine.inspect_container(context.container)
        if document is None:
            return Status.FAIL, "the container disappeared"
        state = document.get("State") or {}
        restarts = int(document.get("RestartCount") or 0)
        problem = _problem(state, restarts)
        if problem is None:
            return Status.PASS, f"running after {self.settle_s:g} s, no restarts"
        tail = context.engine.read_logs(context.container, tail=LOG_LINES).strip()
        error = str(state.get("Error") or "")
        extra = "; ".join(part for part in (error, tail.replace("\n", " | ")) if part)
        return Status.FAIL, f"{problem}: {extra}" if extra else problem


def _problem(state: dict[str, object], restarts: int) -> str | None:
    if state.get("OOMKilled"):
        return "killed for using too much memory (OOM)"
    if restarts:
        return f"restarted {restarts} times (restart loop)"
    if not state.get("Running") or state.get("Restarting"):
        return f"exited with code {state.get('ExitCode')}"
    return None
