"""run_preflight as a whole: ordering and duplicates."""

from __future__ import annotations

from siteproof.findings import Finding, Severity
from siteproof.preflight import sort_findings
from support.preflight_samples import Preflight, TreeBuilder


def test_sort_findings_puts_errors_first_then_code_and_path() -> None:
    info = Finding(Severity.INFO, "a-info", "m", path="/a")
    warning = Finding(Severity.WARNING, "b-warn", "m", path="/a")
    error_b = Finding(Severity.ERROR, "z-code", "m", path="/b")
    error_a = Finding(Severity.ERROR, "z-code", "m", path="/a")
    error_c = Finding(Severity.ERROR, "a-code", "m", path="/z")

    result = sort_findings([info, warning, error_b, error_a, error_c, error_a])

    assert result == [error_c, error_a, error_b, warning, info]


def test_run_preflight_returns_findings_most_severe_first(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/usr/bin/helper", "#!/usr/bin/perl\n")

    findings = preflight(tree, image={"cmd": ("nope",), "tags": ()})

    severities = [f.severity for f in findings]
    assert severities == sorted(severities, reverse=True)
    assert findings[0].code == "command-not-found"
    assert {f.code for f in findings} >= {"image-untagged", "interpreter-missing"}
