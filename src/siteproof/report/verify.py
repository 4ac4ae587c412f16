"""The result of ``siteproof verify``: a verdict bound to the tarball's sha256."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from siteproof.checks.base import CheckResult, Status
from siteproof.findings import Finding, Severity
from siteproof.hostfacts import HostFacts


class Verdict(enum.Enum):
    """What verify concluded."""

    PASS = "pass"  # the image loaded, ran and passed every check
    FAIL = "fail"  # the image failed (preflight error, start, or a check)
    ERROR = "error"  # the image was not judged: infrastructure failed

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Everything a verify run found out.

    Attributes:
        verdict: pass, fail, or error (not judged).
        reason: one line saying why, for fail and error.
        tarball: path of the tarball as given.
        sha256: of the tarball; the report is bound to these exact bytes.
        image: the image that was started.
        image_platform: its platform as the engine loaded it.
        target: where it ran (``local``, ``root@198.51.100.2:22``).
        emulated: the image's architecture differs from the host's and QEMU
            ran it.
        findings: preflight findings.
        checks: runtime check results, in the order they ran.
        host: the host's facts, when they were gathered.
        loaded: what ``docker load`` reported.
        timings: seconds per phase, in order.
        leftovers: resources teardown could not remove.
        kept: ``--keep`` left everything in place.
        keep_hints: how to reach what was kept.
        evidence: evidence file names written to the report folder.
        site: the site profile used.
        parity: site axis against verification host, row by row.
        cloud: how the host was rented (instance, price, cost), if it was.
        log: the container log, when it was saved.
        log_forbid: the site's forbidden log patterns, to mark lines.
    """

    verdict: Verdict
    reason: str
    tarball: str
    sha256: str
    run_id: str
    target: str
    image: str = ""
    image_platform: str = ""
    emulated: bool = False
    findings: tuple[Finding, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    host: HostFacts | None = None
    loaded: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    leftovers: tuple[str, ...] = ()
    kept: bool = False
    keep_hints: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    site: Mapping[str, Any] = field(default_factory=dict)
    parity: tuple[Mapping[str, str], ...] = ()
    cloud: Mapping[str, Any] = field(default_factory=dict)
    log: str = ""
    log_forbid: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Tell whether the image passed."""
        return self.verdict is Verdict.PASS

    @property
    def total_s(self) -> float:
        """Return the time of all phases together."""
        return sum(self.timings.values())

    def to_dict(self) -> dict[str, Any]:
        """Return the whole report as JSON-ready data."""
        return {
            "verdict": str(self.verdict),
            "reason": self.reason,
            "tarball": {"path": self.tarball, "sha256": self.sha256},
            "run_id": self.run_id,
            "target": self.target,
            "image": {"name": self.image, "platform": self.image_platform},
            "emulated": self.emulated,
            "findings": [f.to_dict() for f in self.findings],
            "checks": [c.to_dict() for c in self.checks],
            "host": self.host.to_dict() if self.host else None,
            "loaded": list(self.loaded),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "total_s": round(self.total_s, 3),
            "leftovers": list(self.leftovers),
            "kept": self.kept,
            "keep_hints": list(self.keep_hints),
            "evidence": list(self.evidence),
            "site": dict(self.site),
            "parity": [dict(row) for row in self.parity],
            "cloud": dict(self.cloud),
            "cost": (self.cloud.get("instance") or {}).get("cost"),
            "log": self.log,
            "log_forbid": list(self.log_forbid),
        }


# The check whose failure explains most goes first in the reason: a forbidden
# log line ("exec format error") says why the port never answered.
_REASON_RANK = {"logs": 0, "alive": 1}


def judge(
    findings: tuple[Finding, ...], checks: tuple[CheckResult, ...]
) -> tuple[Verdict, str]:
    """Return the verdict and its reason from findings and check results.

    A failed check or a preflight error fails the image; a check that could
    not be carried out (ERROR) leaves it unjudged.
    """
    errors = [f for f in findings if f.severity is Severity.ERROR]
    failed = sorted(
        (c for c in checks if c.status is Status.FAIL),
        key=lambda c: _REASON_RANK.get(c.name, len(_REASON_RANK)),
    )
    if errors or failed:
        reasons = [f"{f.code}: {f.message}" for f in errors]
        reasons += [f"{c.name}: {c.detail}" for c in failed]
        return Verdict.FAIL, reasons[0]
    broken = [c for c in checks if c.status is Status.ERROR]
    if broken:
        return (
            Verdict.ERROR,
            f"check {broken[0].name} could not run: {broken[0].detail}",
        )
    return Verdict.PASS, ""
