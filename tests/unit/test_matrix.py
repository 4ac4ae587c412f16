"""The verify matrix's bookkeeping: exit codes, labels, cancel, combined reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from siteproof.checks.base import CheckResult, Status
from siteproof.errors import InputError
from siteproof.matrix import (
    Cancellation,
    MatrixCell,
    MatrixReport,
    report_exit_code,
    unique_labels,
    worst_exit_code,
)
from siteproof.report.verify import Verdict, VerifyReport
from siteproof.report.writers import (
    render_matrix_json,
    render_matrix_junit,
    render_matrix_table,
    write_matrix_report,
)


def make_report(verdict: Verdict, reason: str = "", **fields: object) -> VerifyReport:
    return VerifyReport(
        verdict=verdict,
        reason=reason,
        tarball="app.tar",
        sha256="ab" * 32,
        run_id="run-1",
        target="local",
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("codes", "worst"),
    [
        ([], 0),
        ([0, 0], 0),
        ([0, 1], 1),
        ([1, 3, 0], 3),
        ([3, 4, 1], 4),
        ([0, 4], 4),
        ([1, 2], 2),
        ([2, 3], 3),
    ],
)
def test_worst_exit_code_orders_teardown_over_infra_over_failure(
    codes: list[int], worst: int
) -> None:
    assert worst_exit_code(codes) == worst


def test_report_exit_code_is_4_when_something_was_left() -> None:
    passed = make_report(Verdict.PASS)
    left = make_report(Verdict.PASS, leftovers=("container siteproof-x",))

    assert report_exit_code(passed) == 0
    assert report_exit_code(make_report(Verdict.FAIL, "alive: exited")) == 1
    assert report_exit_code(make_report(Verdict.ERROR, "ssh")) == 3
    assert report_exit_code(left) == 4


def test_unique_labels_makes_names_safe_and_distinct() -> None:
    labels = unique_labels(["site", "site", "my site/1", "..", "site"])

    assert labels == ["site", "site-2", "my-site-1", "run", "site-3"]


def test_matrix_exit_code_counts_release_leftovers_of_a_site() -> None:
    cells = (MatrixCell(Path("a.tar"), "s1", report=make_report(Verdict.FAIL, "x")),)

    assert MatrixReport(cells).exit_code == 1
    assert MatrixReport(cells, {"s1": ("instance i-1",)}).exit_code == 4


def test_matrix_cell_with_input_error_keeps_its_exit_code_and_message() -> None:
    cell = MatrixCell(Path("a.tar"), "s1", error=InputError("[run] image x is not in"))

    assert cell.exit_code == 2
    assert cell.verdict == "input-error"
    assert cell.reason == "[run] image x is not in"
    assert cell.to_dict()["report"] is None


def test_cancellation_stops_callbacks_but_not_teardown() -> None:
    cancel = Cancellation()
    seen: list[str] = []
    on_phase = cancel.on_phase(seen.append)
    on_upload = cancel.on_upload()
    on_wait = cancel.on_wait()

    on_phase("upload")
    on_upload(1, 2)
    cancel.cancel()
    on_phase("teardown")

    assert seen == ["upload", "teardown"]
    with pytest.raises(KeyboardInterrupt):
        on_phase("checks")
    with pytest.raises(KeyboardInterrupt):
        on_upload(2, 2)
    with pytest.raises(KeyboardInterrupt):
        on_wait("SSH", 1.0)


def sample_matrix() -> MatrixReport:
    check = CheckResult("alive", Status.FAIL, "exited 3", 0.5)
    return MatrixReport(
        (
            MatrixCell(Path("good.tar"), "kunpeng", report=make_report(Verdict.PASS)),
            MatrixCell(
                Path("crash.tar"),
                "kunpeng",
                report=make_report(Verdict.FAIL, "alive: exited 3", checks=(check,)),
            ),
            MatrixCell(
                Path("good.tar"), "phytium", report=make_report(Verdict.ERROR, "no ssh")
            ),
            MatrixCell(Path("crash.tar"), "phytium", error=InputError("bad image")),
        ),
        {"phytium": ("security_group sg-1",)},
    )


def test_render_matrix_table_has_one_row_per_run_and_the_exit_code() -> None:
    lines = render_matrix_table(sample_matrix()).splitlines()

    assert lines[0].split() == ["TARBALL", "SITE", "VERDICT", "REASON"]
    assert lines[1].split() == ["good.tar", "kunpeng", "PASS"]
    assert lines[2].split()[:3] == ["crash.tar", "kunpeng", "FAIL"]
    assert lines[2].endswith("alive: exited 3")
    assert lines[4].split()[:3] == ["crash.tar", "phytium", "INPUT-ERROR"]
    assert "left    site phytium: security_group sg-1" in lines
    assert lines[-1] == "result  exit 4 (1 pass, 1 fail, 1 error, 1 input-error)"


def test_render_matrix_junit_has_one_testsuite_per_run() -> None:
    root = ET.fromstring(render_matrix_junit(sample_matrix()))
    suites = root.findall("testsuite")

    assert [s.get("name") for s in suites] == [
        "good.tar on kunpeng",
        "crash.tar on kunpeng",
        "good.tar on phytium",
        "crash.tar on phytium",
    ]
    assert suites[1].find("testcase[@name='alive']/failure") is not None
    assert suites[3].find("testcase[@name='run']/error") is not None
    assert root.get("failures") == "1"
    assert root.get("errors") == "2"


def test_write_matrix_report_writes_table_json_and_junit(tmp_path: Path) -> None:
    paths = write_matrix_report(sample_matrix(), tmp_path)
    document = json.loads((tmp_path / "matrix.json").read_text())

    assert [p.name for p in paths] == ["matrix.txt", "matrix.json", "junit.xml"]
    assert document["exit_code"] == 4
    assert [run["verdict"] for run in document["runs"]] == [
        "pass",
        "fail",
        "error",
        "input-error",
    ]
    assert document["runs"][1]["report"]["checks"][0]["name"] == "alive"
    assert render_matrix_json(sample_matrix()) == (tmp_path / "matrix.json").read_text()
