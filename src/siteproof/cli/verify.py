"""``siteproof verify``: load and run the tarball on a real host, then clean up."""

from __future__ import annotations

import logging
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
    InputError,
)
from siteproof.keys import find_signing_key
from siteproof.pipeline import VerifyOptions, verify
from siteproof.report.verify import Verdict, VerifyReport
from siteproof.report.writers import render_json, render_text
from siteproof.site import SiteProfile, load_profile
from siteproof.stamp import write_stamp
from siteproof.targets import TargetOptions, create_target, default_target_spec

log = logging.getLogger(__name__)

_EXIT = {Verdict.PASS: EXIT_OK, Verdict.FAIL: EXIT_FAILED, Verdict.ERROR: EXIT_INFRA}
_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.command("verify")
@click.argument("tarball", type=_FILE)
@click.option("--site", "site", metavar="FILE|NAME", help="Site profile file or name.")
@click.option(
    "--target",
    "target_spec",
    default="",
    metavar="aliyun[:REGION]|local|ssh://user@host[:port]",
    help="Where to load and run the image (default: aliyun when cloud "
    "credentials are configured).",
)
@click.option(
    "--endpoint",
    default="",
    metavar="HOST[:PORT]",
    help="ECS API address for --target aliyun (a private endpoint, or the emulator).",
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
    endpoint: str,
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
    stderr = Console(stderr=True)
    target = create_target(
        _chosen_target(target_spec),
        TargetOptions(
            identity=identity,
            known_hosts=known_hosts,
            accept_new_host_key=accept_new_host_key,
            profile=profile,
            endpoint=endpoint,
            keep=keep,
            progress=wait_progress(stderr),
        ),
    )
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
    if report.passed:
        _stamp(tarball, report, profile)
    return _exit_code(report, hints_to_stderr=is_json)


def _chosen_target(spec: str) -> str:
    chosen = spec or default_target_spec()
    if not chosen:
        raise InputError(
            "name the host to verify on with --target",
            hint="--target local, --target ssh://root@HOST, or configure Alibaba "
            "Cloud credentials (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET) for aliyun",
        )
    return chosen


def _stamp(tarball: Path, report: VerifyReport, profile: SiteProfile) -> None:
    """Sign a stamp for a passed tarball when the user has a signing key."""
    key = find_signing_key()
    if key is None:
        log.warning("no signing key, so no stamp: run `siteproof key init` once")
        return
    path = write_stamp(tarball, report.sha256, report.to_dict(), profile, key)
    log.info("stamp written to %s", path)


def wait_progress(console: Console) -> Callable[[str, float], None]:
    """Return a callback that shows what we wait for and for how long."""

    def show(what: str, elapsed_s: float) -> None:
        if console.is_terminal:
            console.print(f"{what} ({elapsed_s:.0f} s)", end="\r", highlight=False)
        else:
            log.debug("%s (%.0f s)", what, elapsed_s)

    return show


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
