"""Runtime checks of the running container, and the defaults for a site."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from siteproof.checks.alive import AliveCheck
from siteproof.checks.base import (
    Check,
    CheckContext,
    CheckResult,
    Status,
    run_check,
    run_checks,
)
from siteproof.checks.exec import ExecCheck
from siteproof.checks.healthcheck import HealthcheckCheck
from siteproof.checks.http import HttpCheck
from siteproof.checks.logs import LogsCheck
from siteproof.checks.tcp import TcpCheck
from siteproof.site import CheckSpec

__all__ = [
    "AliveCheck",
    "Check",
    "CheckContext",
    "CheckResult",
    "ExecCheck",
    "HealthcheckCheck",
    "HttpCheck",
    "LogsCheck",
    "Status",
    "TcpCheck",
    "build_checks",
    "run_check",
    "run_checks",
]

DEFAULT_SETTLE_S = 5.0

# Readiness checks wait for the app first; alive then judges a settled
# container; the log is read last, when it holds the most.
_ORDER = {"http": 0, "tcp": 0, "healthcheck": 0, "alive": 1, "exec": 2, "logs": 3}


def build_checks(
    specs: Sequence[CheckSpec], *, tcp_ports: Iterable[int]
) -> list[Check]:
    """Turn ``[[check]]`` entries into checks, or give the defaults.

    Args:
        specs: the site's checks; when empty the defaults apply: alive,
            every published or EXPOSEd TCP port answers, and the default
            forbidden log patterns.
        tcp_ports: host ports the container publishes.
    """
    if not specs:
        defaults: list[Check] = [TcpCheck(port) for port in sorted(set(tcp_ports))]
        return [*defaults, AliveCheck(DEFAULT_SETTLE_S), LogsCheck()]
    ordered = sorted(specs, key=lambda spec: _ORDER.get(spec.kind, 9))
    return [_from_spec(spec) for spec in ordered]


def _from_spec(spec: CheckSpec) -> Check:
    if spec.kind == "http":
        return HttpCheck(spec.target, spec.status, spec.body, spec.within_s)
    if spec.kind == "tcp":
        return TcpCheck(int(spec.target), spec.within_s)
    if spec.kind == "alive":
        return AliveCheck(spec.settle_s)
    if spec.kind == "healthcheck":
        return HealthcheckCheck(spec.within_s)
    if spec.kind == "exec":
        return ExecCheck(spec.command, spec.exit_code, spec.within_s)
    return LogsCheck(spec.forbid, spec.require, spec.within_s)
