"""Verdict rules and the text, JSON and JUnit forms of a verify report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from siteproof.checks.base import CheckResult, Status
from siteproof.findings import Finding, Severity
from siteproof.report.verify import Verdict, VerifyReport, judge
from siteproof.report.writers import render_json, render_junit, render_text

PASSED = CheckResult("tcp 8080", Status.PASS, "port 8080 answers", 0.4)
ALIVE_FAIL = CheckResult("alive", Status.FAIL, "exited with code 1", 2.0)
LOGS_FAIL = CheckResult("logs", Status.FAIL, "forbidden exec format error", 0.1)
BROKEN = CheckResult("exec id", Status.ERROR, "CommandError: lost", 0.1)


def test_judge_passes_only_without_failures_or_errors() -> None:
    assert judge((), (PASSED,)) == (Verdict.PASS, "")


def test_judge_reason_prefers_the_log_line_that_explains_the_failure() -> None:
    verdict, reason = judge((), (PASSED, ALIVE_FAIL, LOGS_FAIL))

    assert verdict is Verdict.FAIL
    assert reason == "logs: forbidden exec format error"


def test_judge_preflight_error_fails_first() -> None:
    finding = Finding(Severity.ERROR, "platform-mismatch", "amd64 image, arm64 site")

    assert judge((finding,), (ALIVE_FAIL,))[1].startswith("platform-mismatch")


def test_judge_check_error_leaves_the_image_unjudged() -> None:
    verdict, reason = judge((), (PASSED, BROKEN))

    assert verdict is Verdict.ERROR
    assert "exec id" in reason


def _report() -> VerifyReport:
    return VerifyReport(
        verdict=Verdict.FAIL,
        reason="alive: exited with code 1",
        tarball="app.tar",
        sha256="ab" * 32,
        run_id="r1",
        target="root@198.51.100.2:22",
        image="app:1",
        image_platform="linux/arm64",
        emulated=True,
        checks=(PASSED, ALIVE_FAIL),
        timings={"upload": 1.0, "checks": 2.5},
    )


def test_render_text_says_verdict_reason_and_emulation() -> None:
    text = render_text(_report())

    assert text.startswith("FAIL  app.tar\nreason  alive: exited with code 1\n")
    assert "(emulated by QEMU)" in text
    assert "  FAIL   alive: exited with code 1" in text
    assert "time    3.5 s (upload 1.0 s, checks 2.5 s)" in text


def test_render_json_is_bound_to_the_sha256() -> None:
    data = json.loads(render_json(_report()))

    assert data["verdict"] == "fail"
    assert data["tarball"]["sha256"] == "ab" * 32
    assert data["checks"][1]["status"] == "fail"
    assert data["emulated"] is True


def test_render_junit_counts_failures() -> None:
    suite = ET.fromstring(render_junit(_report()))

    assert suite.get("tests") == "3"
    assert suite.get("failures") == "1"
    failed = suite.find("testcase[@name='alive']/failure")
    assert failed is not None
    assert failed.get("message") == "exited with code 1"
