"""The container log holds no forbidden line and every required one.

The log judged is the container's output plus the engine's start error
(``State.Error``, or what ``docker run`` printed), because a failed exec is
reported there, not by the app. Old engines word it ``standard_init_linux.go:
exec user process caused: exec format error``, new ones ``exec /app: exec
format error``; the patterns match both.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from siteproof.checks.base import POLL_INTERVAL_S, CheckContext, Status, remaining_s

# (what it means, pattern); patterns are case-insensitive regular expressions.
DEFAULT_FORBIDDEN: tuple[tuple[str, str], ...] = (
    ("exec format error", r"exec format error"),
    ("no such file or directory", r"no such file or directory"),
    ("permission denied", r"permission denied"),
    ("executable not found", r"executable file not found|not found in \$PATH"),
    ("start error", r"exec user process caused|OCI runtime \w+ failed"),
    ("Python traceback", r"Traceback \(most recent call last\)"),
    ("illegal instruction", r"illegal instruction|SIGILL"),
    ("unsupported page size", r"<jemalloc>: Unsupported system page size"),
    (
        "failed thread creation",
        r"pthread_create|(?:failed to|can't|cannot|unable to) "
        r"(?:create|start) (?:a )?(?:new )?(?:native )?thread",
    ),
)


@dataclass(frozen=True, slots=True)
class LogsCheck:
    """Scan the log for forbidden patterns; wait for required ones.

    Attributes:
        forbid: extra forbidden patterns (the defaults always apply).
        require: patterns that must appear within *within_s*.
        use_defaults: apply DEFAULT_FORBIDDEN.
    """

    forbid: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    within_s: float = 60.0
    use_defaults: bool = True

    @property
    def name(self) -> str:
        """Return ``logs``."""
        return "logs"

    def evaluate(self, context: CheckContext) -> tuple[Status, str]:
        """Read the log (waiting for required lines) and judge it."""
        text = self._wait_for_required(context)
        hits = find_forbidden(text, self._patterns())
        missing = [p for p in self.require if not _search(p, text)]
        problems = [f"forbidden {label}: {line!r}" for label, line in hits]
        problems += [f"required /{pattern}/ never appeared" for pattern in missing]
        if problems:
            return Status.FAIL, "; ".join(problems)
        lines = len(text.splitlines())
        return Status.PASS, f"{lines} log lines, no forbidden pattern"

    def _patterns(self) -> list[tuple[str, str]]:
        patterns = list(DEFAULT_FORBIDDEN) if self.use_defaults else []
        return patterns + [(pattern, pattern) for pattern in self.forbid]

    def _wait_for_required(self, context: CheckContext) -> str:
        deadline = time.monotonic() + self.within_s
        while True:
            text = read_full_log(context)
            if all(_search(p, text) for p in self.require):
                return text
            if context.stopped_reason() or remaining_s(deadline) <= 0:
                return text
            time.sleep(min(POLL_INTERVAL_S, remaining_s(deadline)))


def read_full_log(context: CheckContext) -> str:
    """Return the container log plus the engine's start error, if any."""
    parts = [context.start_error]
    document = context.engine.inspect_container(context.container)
    if document is not None:
        parts.append(str((document.get("State") or {}).get("Error") or ""))
        parts.append(context.engine.read_logs(context.container))
    return "\n".join(part for part in parts if part)


def find_forbidden(text: str, patterns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return (label, first matching line) for each pattern found in *text*."""
    hits = []
    for label, pattern in patterns:
        regex = re.compile(pattern, re.IGNORECASE)
        line = next((ln for ln in text.splitlines() if regex.search(ln)), None)
        if line is not None:
            hits.append((label, line.strip()[:200]))
    return hits


def _search(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.IGNORECASE | re.MULTILINE) is not None
