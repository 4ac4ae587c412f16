"""The HTML report as a reader sees it: rendered by Debian's headless Chromium."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from siteproof.cli import main
from siteproof.report.html import render_html
from support.delivery import chromium_binary, verify_report_dict

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 1200, 1600


def _chromium(tmp_path: Path, page: Path, *mode: str) -> str:
    argv = [
        chromium_binary(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WIDTH},{HEIGHT}",
        *mode,
        page.as_uri(),
    ]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "title", "head")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "title", "head")

    def handle_data(self, data: str) -> None:
        if self._skip <= 0:
            self.parts.append(data)


def _visible_text(dom: str) -> str:
    parser = _Text()
    parser.feed(dom)
    return " ".join(" ".join(parser.parts).split())


def _png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG into rows of raw pixel bytes."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, data, header = 8, b"", b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        chunk = png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            data += chunk
        offset += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8
    assert color in (2, 6)
    channels = 4 if color == 6 else 3
    return width, height, _unfilter(zlib.decompress(data), width * channels, channels)


def _unfilter(raw: bytes, stride: int, bpp: int) -> list[bytes]:
    rows: list[bytes] = []
    previous = bytearray(stride)
    for start in range(0, len(raw), stride + 1):
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = (abs(estimate - v) for v in (left, up, corner))
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows


def _pixel(rows: list[bytes], x: int, y: int, channels: int) -> tuple[int, ...]:
    return tuple(rows[y][x * channels : x * channels + 3])


@pytest.fixture(scope="module")
def fail_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    page = tmp_path_factory.mktemp("html") / "report.html"
    page.write_text(render_html(verify_report_dict("fail")), encoding="utf-8")
    return page


def test_html_report_in_chromium_shows_verdict_findings_and_parity(
    fail_page: Path, tmp_path: Path
) -> None:
    dom = _chromium(tmp_path, fail_page, "--dump-dom")
    text = _visible_text(dom)
    assert text.startswith("FAIL alive: the container exited with code 1")
    assert "exec-format /app/start.sh /app/start.sh is an x86-64 program" in text
    assert "fix: rebuild it for the site" in text
    assert "page size 64k 4k only checked statically" in text
    assert "cgroup version v1 v2 differs" in text
    assert "offline offline offline matched" in text
    assert "\u2717 exec /app/start.sh: exec format error" in text
    assert re.search(r"http 127\.0\.0\.1:8080/ connection refused 30\.00 s", text)


def test_html_report_in_chromium_screenshot_has_a_red_verdict_banner(
    fail_page: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    _chromium(tmp_path, fail_page, f"--screenshot={shot}")
    png = shot.read_bytes()
    assert len(png) > 20_000
    width, height, rows = _png_pixels(png)
    assert (width, height) == (WIDTH, HEIGHT)
    channels = len(rows[0]) // width
    red, green, blue = _pixel(rows, 600, 60, channels)
    assert red > 150, "verdict banner is not red"
    assert max(green, blue) < 90, "verdict banner is not red"
    assert _pixel(rows, 600, 400, channels) != (red, green, blue)
    distinct = {
        rows[y][x : x + 3] for y in range(0, HEIGHT, 7) for x in range(0, 3000, 9)
    }
    assert len(distinct) > 20


def test_html_report_in_chromium_shows_a_green_banner_for_pass(tmp_path: Path) -> None:
    page = tmp_path / "pass.html"
    page.write_text(render_html(verify_report_dict("pass")), encoding="utf-8")
    shot = tmp_path / "pass.png"
    _chromium(tmp_path, page, f"--screenshot={shot}")
    width, _, rows = _png_pixels(shot.read_bytes())
    red, green, blue = _pixel(rows, 600, 60, len(rows[0]) // width)
    assert green > 100, "verdict banner is not green"
    assert max(red, blue) < 80, "verdict banner is not green"
    text = _visible_text(_chromium(tmp_path, page, "--dump-dom"))
    assert text.startswith("PASS the image loaded, ran and passed every check")


@pytest.mark.docker
def test_html_report_of_a_real_verify_run_in_chromium(
    runtime_images: dict[str, Path], tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[site]\nplatform = "linux/arm64"\ndocker = "20.10"\npage_size = "64k"\n'
        '[run]\nrestart = "always"\n[[check]]\nalive = true\nsettle = "2s"\n'
    )
    report_dir = tmp_path / "report"
    code = main(
        [
            *("-q", "verify", str(runtime_images["crash"]), "--site", str(site)),
            *("--target", "local", "--report", str(report_dir)),
        ]
    )

    assert code == 1
    text = _visible_text(_chromium(tmp_path, report_dir / "report.html", "--dump-dom"))
    assert text.startswith("FAIL alive:")
    assert "page size 64k 4k only checked statically" in text
    assert "fatal: config missing" in text
