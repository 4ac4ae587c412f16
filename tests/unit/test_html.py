"""The HTML report and the parity table, as pure functions."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from siteproof.inspect import inspect_tarball
from siteproof.report.html import render_html
from siteproof.report.parity import parity_table
from support.delivery import (
    kylin_profile,
    tiny_tarball,
    verify_report_dict,
    x86_host_facts,
)


class _Page(HTMLParser):
    """Collect visible text, element ids, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.ids: list[str] = []
        self.urls: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "title"):
            self._hidden += 1
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("src", "href", "action") and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def _rows(page: str, section: str) -> list[list[str]]:
    """Return the text cells of the table right after ``<h2 id=section>``."""
    start = page.index(f'id="{section}"')
    table = page[start : page.index("</table>", start)]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in rows
        if "<td>" in row
    ]


def test_parity_table_marks_each_axis_for_an_x86_host_and_a_kylin_site() -> None:
    rows = parity_table(kylin_profile(), x86_host_facts().to_dict(), isolated=True)
    table = {row["axis"]: row for row in rows}
    assert list(table) == [
        "architecture",
        "page size",
        "Docker major.minor",
        "cgroup version",
        "kernel series",
        "SELinux",
        "CPU features",
        "offline",
    ]
    assert table["architecture"]["site"] == "arm64"
    assert table["architecture"]["host"] == "amd64"
    assert table["architecture"]["status"] == "static"
    assert "QEMU" in table["architecture"]["note"]
    assert (table["page size"]["site"], table["page size"]["host"]) == ("64k", "4k")
    assert table["page size"]["status"] == "static"
    assert table["Docker major.minor"]["host"] == "20.10"
    assert table["Docker major.minor"]["status"] == "matched"
    assert table["cgroup version"]["status"] == "differs"
    assert (table["kernel series"]["site"], table["kernel series"]["host"]) == (
        "4.19",
        "6.1",
    )
    assert table["kernel series"]["status"] == "differs"
    assert table["SELinux"]["status"] == "matched"
    assert table["CPU features"]["status"] == "differs"
    assert "sse2" in table["CPU features"]["note"]
    assert table["offline"]["status"] == "matched"


def test_parity_table_without_a_host_is_static_or_unknown() -> None:
    rows = {r["axis"]: r for r in parity_table(kylin_profile(), None)}
    assert rows["architecture"]["status"] == "static"
    assert rows["page size"]["status"] == "static"
    assert rows["Docker major.minor"]["status"] == "static"
    assert rows["cgroup version"]["status"] == "unknown"
    assert rows["offline"]["status"] == "unknown"
    assert rows["architecture"]["host"] == "-"


def test_parity_table_matches_a_host_equal_to_the_site() -> None:
    facts = x86_host_facts().to_dict() | {
        "architecture": "arm64",
        "page_size": 65536,
        "cgroup": "v1",
        "kernel": "4.19.90-52.22.v2207.ky10.aarch64",
        "cpu_flags": "fp asimd aes sha2 crc32",
        "offline": True,
    }
    rows = parity_table(kylin_profile(), facts)
    assert [row["status"] for row in rows] == ["matched"] * 8


def test_render_html_puts_the_verdict_first_and_every_section_in_order() -> None:
    page = render_html(verify_report_dict("fail"))
    parsed = _parse(page)
    visible = " ".join(" ".join(parsed.text).split())
    assert visible.startswith("FAIL alive: the container exited with code 1")
    assert parsed.ids == [
        "verdict",
        "findings",
        "checks",
        "timeline",
        "parity",
        "host",
        "log",
        "cost",
    ]
    assert "dist/app-arm64.tar" in visible
    assert "ab" * 32 in visible
    assert "yes (QEMU)" in visible


def test_render_html_lists_findings_checks_and_parity_rows() -> None:
    page = render_html(verify_report_dict("fail"))
    findings = _rows(page, "findings")
    assert findings[0][:3] == ["error", "exec-format", "/app/start.sh"]
    assert "fix: rebuild it for the site" in findings[0][3]
    assert findings[1][:2] == ["warning", "no-healthcheck"]
    checks = _rows(page, "checks")
    assert checks[1] == [
        "fail",
        "http 127.0.0.1:8080/",
        "connection refused",
        "30.00 s",
    ]
    parity = _rows(page, "parity")
    assert parity[1][:4] == ["page size", "64k", "4k", "only checked statically"]
    assert parity[3][:4] == ["cgroup version", "v1", "v2", "differs"]
    assert len(parity) == 8


def test_render_html_marks_the_failing_log_lines_only() -> None:
    page = render_html(verify_report_dict("fail"))
    marked = re.findall(r'<span class="bad">(.*?)</span>', page)
    assert marked == ["\u2717 exec /app/start.sh: exec format error"]
    assert "1 failing line(s) marked" in page


def test_render_html_loads_nothing_from_outside() -> None:
    page = render_html(verify_report_dict("pass"))
    parsed = _parse(page)
    assert parsed.urls == []
    assert "default-src 'none'" in page
    assert "<script" not in page
    assert "url(" not in page
    assert "@import" not in page


def test_render_html_escapes_what_the_image_wrote() -> None:
    report = verify_report_dict("fail")
    report["log"] = '<script>alert("x")</script> error\n'
    report["findings"][0]["message"] = "<b>bold</b>"
    page = render_html(report)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_render_html_of_a_pass_shows_pass_and_skips_absent_sections() -> None:
    report = verify_report_dict("pass")
    for key in ("log", "cost", "parity", "host"):
        del report[key]
    page = render_html(report)
    parsed = _parse(page)
    assert parsed.ids == ["verdict", "findings", "checks", "timeline"]
    assert '<section class="verdict pass"' in page
    assert "the image loaded, ran and passed every check" in page


def test_render_html_of_an_inspect_report_shows_image_and_layers(
    tmp_path: Path,
) -> None:
    tarball = tiny_tarball(tmp_path / "app.tar")
    report = inspect_tarball(tarball, kylin_profile()).to_dict()
    page = render_html(report)
    parsed = _parse(page)
    assert parsed.ids[0] == "verdict"
    assert "image" in parsed.ids
    assert "checks" not in parsed.ids
    visible = " ".join(parsed.text)
    assert report["verdict"].upper() in visible
    assert report["tarball"]["sha256"] in visible
    layers = _rows(page, "image")
    assert layers[0][1] == "none"
    assert layers[0][0].startswith("sha256:")
