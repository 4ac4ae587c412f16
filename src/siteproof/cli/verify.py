"""``siteproof verify``: load and run the tarball on a real host, then clean up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from siteproof.errors import (
    EXIT_FAILED,
    EXIT_INFRA,
    EXIT_OK,
    EXIT_TEARDOWN,
)
from siteproof.pipeline import VerifyOptions, verify
from siteproof.report.verify import Verdict, VerifyReport
from siteproof.report.writers import render_json, render_text
from siteproof.site import load_profile
from siteproof.targets import TargetOptions, create_target

_EXIT = {Verdict.PASS: EXIT_OK, Verdict.FAIL: EXIT_FAILED, Verdict.ERROR: EXIT_INFRA}
_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.command("verify")
@click.argument("tarball", type=_FILE)
@click.option("--site", "site", metavar="FILE|NAME", help="Site profile file or name.")
@click.option(
    "--target",
    "target_spec",
    required=True,
    metavar="local|ssh://user@host[:port]",
    help="Where to load and run the image.",
)
@click.option("--identity", type=_FILE, help="SSH private key file.")
@click.option("--known-hosts", type=_FILE, help="known_hosts file for the host key.")
@click.option(
    "--accept-new-host-key",
    is_flag=True,
    help="Trust and record a host key seen for the first time.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for report.txt/json, junit.xml and evidence.",
)
@click.option("--keep", is_flag=True, help="Leave everything on the host for a look.")
@click.option("--no-preflight", is_flag=True, help="Skip the static inspection.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def verify_command(  # noqa: PLR0917 - click passes one argument per option
    tarball: Path,
    site: str | None,
    target_spec: str,
    identity: Path | None,
    known_hosts: Path | None,
    accept_new_host_key: bool,
    report_dir: Path | None,
    keep: bool,
    no_preflight: bool,
    output_format: str,
) -> int:
    """Load and run TARBALL on a host as the site would, check it, clean up."""
    profile = load_profile(site)
    target = create_target(
        target_spec,
        TargetOptions(
            identity=identity,
            known_hosts=known_hosts,
            accept_new_host_key=accept_new_host_key,
            profile=profile,
        ),
    )
    stderr = Console(stderr=True)
    with upload_progress(stderr, enabled=output_format == "text") as progress:
        options = VerifyOptions(
            report_dir=report_dir,
            keep=keep,
            no_preflight=no_preflight,
            on_upload=progress,
        )
        report = verify(tarball, profile, target, options)
    is_json = output_format == "json"
    click.echo((render_json if is_json else render_text)(report), nl=False)
    return _exit_code(report, hints_to_stderr=is_json)


def _exit_code(report: VerifyReport, *, hints_to_stderr: bool) -> int:
    if report.verdict is Verdict.ERROR:
        click.echo(f"error: {report.reason}", err=True)
    for hint in report.keep_hints if hints_to_stderr else ():
        click.echo(f"kept: {hint}", err=True)
    if report.leftovers:
        for item in report.leftovers:
            click.echo(f"error: could not remove {item}", err=True)
        return EXIT_TEARDOWN
    return _EXIT[report.verdict]


@contextmanager
def upload_progress(
    console: Console, *, enabled: bool = True
) -> Iterator[Callable[[int, int], None] | None]:
    """Yield an upload progress callback that draws a bar on a terminal."""
    if not (enabled and console.is_terminal):
        yield None
        return
    columns = (
        TextColumn("uploading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("upload", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
