"""Write a verify report as text, JSON and JUnit XML, and save evidence files.

A matrix of runs (several tarballs, several sites) gets a combined summary
table, one JSON document with every run's full report, and one JUnit file
with a testsuite per run; each run's own files go to its subfolder.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siteproof.checks.base import Status
from siteproof.report.html import render_html
from siteproof.report.parity import STATUS_LABELS
from siteproof.report.verify import VerifyReport

if TYPE_CHECKING:
    from siteproof.matrix import MatrixCell, MatrixReport

log = logging.getLogger(__name__)

REPORT_FILES = ("report.txt", "report.json", "junit.xml", "report.html", "summary.md")


def render_text(report: VerifyReport) -> str:
    """Return a short summary for people."""
    lines = [f"{str(report.verdict).upper()}  {report.tarball}"]
    if report.reason:
        lines.append(f"reason  {report.reason}")
    lines.append(f"sha256  {report.sha256}")
    emulated = " (emulated by QEMU)" if report.emulated else ""
    lines.append(f"image   {report.image} {report.image_platform}{emulated}".rstrip())
    lines.append(f"target  {report.target}{_host_line(report)}")
    lines += [_check_line(c.status, c.name, c.detail) for c in report.checks]
    errors = [f for f in report.findings if str(f.severity) == "error"]
    lines += [f"  FAIL   preflight {f.code}: {f.message}" for f in errors]
    warnings = [f for f in report.findings if str(f.severity) == "warning"]
    lines += [f"  WARN   preflight {f.code}: {f.message}" for f in warnings]
    gaps = [row for row in report.parity if row.get("status") != "matched"]
    lines += [_parity_line(row) for row in gaps if row.get("status") != "unknown"]
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())
    lines.append(f"time    {report.total_s:.1f} s ({phases})")
    lines += [f"left    {item}" for item in report.leftovers]
    lines += [f"kept    {hint}" for hint in report.keep_hints]
    return "\n".join(lines) + "\n"


def _parity_line(row: Mapping[str, str]) -> str:
    """Say where the verification host was not like the site."""
    return (
        f"  NOTE   {row.get('axis')}: site {row.get('site')}, this host "
        f"{row.get('host')} ({STATUS_LABELS.get(row.get('status', ''), '')})"
    )


def _host_line(report: VerifyReport) -> str:
    host = report.host
    if host is None:
        return ""
    return (
        f": {host.machine}, kernel {host.kernel}, {host.page_size // 1024}k pages, "
        f"cgroup {host.cgroup}, Docker {host.docker_server}"
    )


def _check_line(status: Status, name: str, detail: str) -> str:
    return f"  {str(status).upper():6} {name}: {detail}"


def render_json(report: VerifyReport) -> str:
    """Return the report as indented JSON."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def render_junit(report: VerifyReport) -> str:
    """Return JUnit XML: one test case per check, plus preflight and the run."""
    suite = _junit_suite(report, "siteproof verify")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _junit_suite(report: VerifyReport, name: str) -> ET.Element:
    suite = ET.Element("testsuite", name=name)
    suite.set("time", f"{report.total_s:.3f}")
    for check in report.checks:
        case = ET.SubElement(suite, "testcase", classname="verify", name=check.name)
        case.set("time", f"{check.duration_s:.3f}")
        _mark(case, check.status, check.detail)
    preflight = ET.SubElement(suite, "testcase", classname="verify", name="preflight")
    errors = [f"{f.code}: {f.message}" for f in report.findings if f.severity >= 2]
    _mark(preflight, Status.FAIL if errors else Status.PASS, "; ".join(errors))
    if str(report.verdict) == "error":
        run = ET.SubElement(suite, "testcase", classname="verify", name="run")
        _mark(run, Status.ERROR, report.reason)
    _count_cases(suite)
    return suite


def _count_cases(suite: ET.Element) -> None:
    cases = list(suite)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
    suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))


def _mark(case: ET.Element, status: Status, detail: str) -> None:
    tags = {Status.FAIL: "failure", Status.ERROR: "error", Status.SKIP: "skipped"}
    if status in tags:
        ET.SubElement(case, tags[status], message=detail[:500]).text = detail


def _render_html(report: VerifyReport) -> str:
    return render_html(report.to_dict())


def render_markdown(report: VerifyReport) -> str:
    """Return a short summary to paste into a ticket."""
    verdict = str(report.verdict).upper()
    lines = [
        f"**siteproof verify: {verdict}**"
        + (f" - {report.reason}" if report.reason else ""),
        "",
        f"- tarball: `{report.tarball}` (sha256 `{report.sha256}`)",
        f"- image: `{report.image or '?'}` ({report.image_platform or '?'})"
        + (" - emulated" if report.emulated else ""),
        f"- host: {report.target}",
        f"- site: {report.site.get('name', '?')}",
        "",
        "| check | status | detail |",
        "|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {c.status} | {c.detail.replace('|', '/')} |"
        for c in report.checks
    ]
    errors = [f for f in report.findings if str(f.severity) == "error"]
    lines += [
        "",
        f"{len(errors)} preflight error(s), {len(report.findings)} finding(s)",
    ]
    return "\n".join(lines) + "\n"


def write_evidence(folder: Path, name: str, content: str | Any) -> str:
    """Write one evidence file (text, or JSON for anything else); return its name."""
    folder.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    (folder / name).write_text(text, encoding="utf-8")
    return name


def write_report(report: VerifyReport, folder: Path) -> list[Path]:
    """Write the text, JSON, JUnit, HTML and Markdown forms into *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    renderers = (render_text, render_json, render_junit, _render_html, render_markdown)
    paths = []
    for name, render in zip(REPORT_FILES, renderers, strict=True):
        path = folder / name
        path.write_text(render(report), encoding="utf-8")
        paths.append(path)
    log.info("report written to %s", folder)
    return paths


MATRIX_FILES = ("matrix.txt", "matrix.json", "junit.xml")


def render_matrix_text(matrix: MatrixReport) -> str:
    """Return each run's summary, then the tarball x site table."""
    blocks = [
        f"== {cell.tarball} on {cell.site}\n"
        + (render_text(cell.report) if cell.report else f"error  {cell.reason}\n")
        for cell in matrix.cells
    ]
    return "\n".join([*blocks, render_matrix_table(matrix)])


def render_matrix_table(matrix: MatrixReport) -> str:
    """Return the table: one row per tarball and site, verdict and reason."""
    rows = [("TARBALL", "SITE", "VERDICT", "REASON")]
    rows += [
        (str(cell.tarball), cell.site, cell.verdict.upper(), cell.reason)
        for cell in matrix.cells
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=False))
        + "  "
        + row[3]
        for row in rows
    ]
    lines = [line.rstrip() for line in lines]
    lines += [
        f"left    site {site}: {item}"
        for site, items in matrix.leftovers.items()
        for item in items
    ]
    counts: dict[str, int] = {}
    for cell in matrix.cells:
        counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
    tally = ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
    lines.append(f"result  exit {matrix.exit_code} ({tally})")
    return "\n".join(lines) + "\n"


def render_matrix_json(matrix: MatrixReport) -> str:
    """Return the combined report, every run's full report included, as JSON."""
    return json.dumps(matrix.to_dict(), indent=2) + "\n"


def render_matrix_junit(matrix: MatrixReport) -> str:
    """Return JUnit XML with one testsuite per run (tarball on site)."""
    suites = ET.Element("testsuites", name="siteproof verify")
    for cell in matrix.cells:
        suites.append(_matrix_suite(cell))
    for name in ("tests", "failures", "errors", "skipped"):
        suites.set(name, str(sum(int(s.get(name, "0")) for s in suites)))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _matrix_suite(cell: MatrixCell) -> ET.Element:
    name = f"{cell.tarball} on {cell.site}"
    if cell.report is not None:
        suite = _junit_suite(cell.report, name)
    else:
        suite = ET.Element("testsuite", name=name, time="0.000")
        run = ET.SubElement(suite, "testcase", classname="verify", name="run")
        _mark(run, Status.ERROR, cell.reason)
        _count_cases(suite)
    for case in suite:
        case.set("classname", f"verify.{cell.site}")
    return suite


def write_matrix_report(matrix: MatrixReport, folder: Path) -> list[Path]:
    """Write the combined text, JSON and JUnit files into *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    renderers = (render_matrix_table, render_matrix_json, render_matrix_junit)
    paths = []
    for name, render in zip(MATRIX_FILES, renderers, strict=True):
        path = folder / name
        path.write_text(render(matrix), encoding="utf-8")
        paths.append(path)
    log.info("matrix report written to %s", folder)
    return paths
