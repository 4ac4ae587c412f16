"""Human-readable terminal output: grouped, most important first, coloured."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from siteproof.findings import Finding, Severity
from siteproof.inspect import InspectReport

# How many paths of one finding code the text shows; JSON has them all.
PATHS_SHOWN = 8

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_VERDICT_STYLE = {"pass": "bold green", "fail": "bold red"}

# User-facing wording, kept together for translation.
TEXT = {
    "verdict": "{verdict}  {tarball}",
    "sha256": "sha256 {sha256}",
    "image": "image  {name} ({platform}), {layers} layer(s), {files} paths, "
    "{format} archive",
    "site_builtin": "site   built-in profile {name}: {platform}, Docker {docker}, "
    "{page} pages (pass --site FILE for your site)",
    "site_file": "site   {source}: {platform}, Docker {docker}, {page} pages",
    "more": "… and {count} more (see --format json)",
    "also": "also",
    "hint": "fix: {hint}",
    "none": "no problems found",
    "summary": "{errors} error(s), {warnings} warning(s), {infos} note(s) "
    "in {seconds:.1f} s",
}


def render_inspect(report: InspectReport, console: Console) -> None:
    """Print an inspect report for people."""
    verdict = report.verdict
    console.print(
        TEXT["verdict"].format(verdict=verdict.upper(), tarball=escape(report.tarball)),
        style=_VERDICT_STYLE[verdict],
    )
    console.print(TEXT["sha256"].format(sha256=report.sha256), style="dim")
    _print_context(report, console)
    console.print()
    if not report.findings:
        console.print(TEXT["none"], style="green")
    for code, findings in _grouped(report.findings):
        _print_group(code, findings, console)
    counts = {s: sum(f.severity is s for f in report.findings) for s in Severity}
    console.print(
        TEXT["summary"].format(
            errors=counts[Severity.ERROR],
            warnings=counts[Severity.WARNING],
            infos=counts[Severity.INFO],
            seconds=report.duration_s,
        )
    )


def _print_context(report: InspectReport, console: Console) -> None:
    image = report.image
    console.print(
        TEXT["image"].format(
            name=escape(image.name),
            platform=image.config.platform,
            layers=len(image.layers),
            files=report.file_count,
            format=report.archive_format,
        )
    )
    profile = report.profile
    key = "site_builtin" if profile.is_builtin else "site_file"
    site = profile.site
    console.print(
        TEXT[key].format(
            name=profile.name,
            source=escape(profile.source),
            platform=site.platform,
            docker=site.docker_text,
            page=f"{site.page_size // 1024}k",
        )
    )


def _grouped(findings: tuple[Finding, ...]) -> Iterator[tuple[str, list[Finding]]]:
    ordered = sorted(findings, key=lambda f: (-f.severity, f.code, f.path or ""))
    for code, group in itertools.groupby(ordered, key=lambda f: (f.severity, f.code)):
        yield code[1], list(group)


def _print_group(code: str, findings: list[Finding], console: Console) -> None:
    """Print one code: its first message in full, then the other paths."""
    severity = findings[0].severity
    header = f"{str(severity).upper():7} {code}"
    if len(findings) > 1:
        header += f" ({len(findings)})"
    console.print(header, style=_STYLE[severity])
    console.print(f"  {escape(findings[0].message)}", highlight=False)
    others = [f.path for f in findings[1:] if f.path]
    for path in others[:PATHS_SHOWN]:
        line = f"  {TEXT['also']} {escape(path)}"
        console.print(line, highlight=False, soft_wrap=True)
    if len(others) > PATHS_SHOWN:
        console.print("  " + TEXT["more"].format(count=len(others) - PATHS_SHOWN))
    for hint in dict.fromkeys(f.hint for f in findings if f.hint):
        console.print("  " + TEXT["hint"].format(hint=escape(hint)), style="dim")
    console.print()


@contextmanager
def byte_progress(
    console: Console, label: str, *, enabled: bool = True
) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a (done, total) callback that draws a bar on a terminal, else None."""
    if not (enabled and console.is_terminal):
        yield None
        return
    columns = (
        TextColumn(label),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
