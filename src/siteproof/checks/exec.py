"""A command inside the container exits with the expected code."""

from __future__ import annotations

from dataclasses import dataclass

from siteproof.checks.base import CheckContext, Status


@dataclass(frozen=True, slots=True)
class ExecCheck:
    """Run ``docker exec`` and compare the exit code."""

    command: tuple[str, ...]
    exit_code: int = 0
    within_s: float = 60.0

    @property
    def name(self) -> str:
        """Return e.g. ``exec python3 -V``."""
        return "exec " + " ".join(self.command)

    def evaluate(self, context: CheckContext) -> tuple[Status, str]:
        """Run the command once and judge its exit code."""
        if context.start_error:
            return Status.FAIL, "the container did not start"
        result = context.engine.exec_in_container(
            context.container, self.command, timeout_s=self.within_s
        )
        output = (result.stdout + result.stderr).strip().replace("\n", " | ")
        detail = f"exit {result.exit_status}" + (f": {output[-300:]}" if output else "")
        if result.exit_status == self.exit_code:
            return Status.PASS, detail
        return Status.FAIL, f"{detail} (expected exit {self.exit_code})"
