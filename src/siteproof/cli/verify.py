"""``siteproof verify``: load and run the tarball on a real host, then clean up.

Several tarballs and ``--site`` files make a matrix (see
:mod:`siteproof.matrix`): every tarball on every site, one host per site,
one combined report. One tarball on one site behaves as it always did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path

import click
from rich.console import Console

from siteproof.errors import (
    EXIT_FAILED,
    EXIT_INFRA,
    EXIT_OK,
    EXIT_TEARDOWN,
    InputError,
)
from siteproof.keys import find_signing_key
from siteproof.matrix import (
    Cancellation,
    MatrixOptions,
    MatrixReport,
    MatrixSite,
    run_matrix,
    unique_labels,
)
from siteproof.pipeline import VerifyOptions, verify
from siteproof.report.console import byte_progress
from siteproof.report.verify import Verdict, VerifyReport
from siteproof.report.writers import (
    render_json,
    render_matrix_json,
    render_matrix_text,
    render_text,
    write_matrix_report,
)
from siteproof.site import SiteProfile, load_profile
from siteproof.stamp import stamp_path_for, write_stamp
from siteproof.targets import (
    TargetOptions,
    create_target,
    default_target_spec,
    target_kind,
)

log = logging.getLogger(__name__)

_EXIT = {Verdict.PASS: EXIT_OK, Verdict.FAIL: EXIT_FAILED, Verdict.ERROR: EXIT_INFRA}
_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.command("verify")
@click.argument("tarball", type=_FILE, nargs=-1, required=True)
@click.option(
    "--site",
    "site",
    metavar="FILE|NAME",
    multiple=True,
    help="Site profile file or name; repeat it to verify on several sites.",
)
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
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With several sites on aliyun: how many instances at the same time.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def verify_command(  # noqa: PLR0917 - click passes one argument per option
    tarball: Path | tuple[Path, ...],
    site: str | tuple[str, ...] | None,
    target_spec: str,
    endpoint: str,
    identity: Path | None,
    known_hosts: Path | None,
    accept_new_host_key: bool,
    report_dir: Path | None,
    keep: bool,
    no_preflight: bool,
    output_format: str,
    parallel: int = 1,
) -> int:
    """Load and run TARBALL on a host as the site would, check it, clean up.

    With several TARBALLs or --site options, every tarball runs on every site.
    """
    tarballs = (tarball,) if isinstance(tarball, Path) else tuple(tarball)
    sites = (site,) if isinstance(site, str) or site is None else tuple(site)
    if report_dir is not None:
        _prepare_report_dir(report_dir)
    setup = _Setup(
        target_spec=target_spec,
        target=TargetOptions(
            identity=identity,
            known_hosts=known_hosts,
            accept_new_host_key=accept_new_host_key,
            endpoint=endpoint,
            keep=keep,
        ),
        report_dir=report_dir,
        keep=keep,
        no_preflight=no_preflight,
        output_format=output_format,
        parallel=parallel,
    )
    if len(tarballs) == 1 and len(sites) <= 1:
        return _verify_one(tarballs[0], sites[0] if sites else None, setup)
    return _verify_matrix(tarballs, sites or (None,), setup)


@dataclass(frozen=True, slots=True)
class _Setup:
    """The command line, apart from the tarballs and sites."""

    target_spec: str
    target: TargetOptions
    report_dir: Path | None
    keep: bool
    no_preflight: bool
    output_format: str
    parallel: int


def _verify_one(tarball: Path, site: str | None, setup: _Setup) -> int:
    """Verify one tarball on one site: the classic single run."""
    profile = load_profile(site)
    stderr = Console(stderr=True)
    target = create_target(
        _chosen_target(setup.target_spec),
        replace(setup.target, profile=profile, progress=wait_progress(stderr)),
    )
    output_format = setup.output_format
    with upload_progress(stderr, enabled=output_format == "text") as progress:
        options = VerifyOptions(
            report_dir=setup.report_dir,
            keep=setup.keep,
            no_preflight=setup.no_preflight,
            on_upload=progress,
        )
        report = verify(tarball, profile, target, options)
    is_json = output_format == "json"
    click.echo((render_json if is_json else render_text)(report), nl=False)
    if report.passed:
        _stamp(tarball, report, profile)
    return _exit_code(report, hints_to_stderr=is_json)


def _verify_matrix(
    tarballs: tuple[Path, ...], sites: tuple[str | None, ...], setup: _Setup
) -> int:
    """Verify every tarball on every site, one host per site."""
    spec = _chosen_target(setup.target_spec)
    stderr = Console(stderr=True)
    cancellation = Cancellation()
    matrix_sites = _matrix_sites(
        spec, sites, setup, cancellation.on_wait(wait_progress(stderr))
    )
    parallel = _site_parallelism(spec, setup.parallel)
    is_text = setup.output_format == "text"
    with upload_progress(stderr, enabled=is_text and parallel == 1) as progress:
        options = MatrixOptions(
            report_dir=setup.report_dir,
            keep=setup.keep,
            no_preflight=setup.no_preflight,
            parallel=parallel,
            on_upload=progress,
            cancellation=cancellation,
        )
        matrix = run_matrix(tarballs, matrix_sites, options)
    if setup.report_dir is not None:
        write_matrix_report(matrix, setup.report_dir)
    render = render_matrix_text if is_text else render_matrix_json
    click.echo(render(matrix), nl=False)
    _stamp_matrix(matrix, {site.name: site.profile for site in matrix_sites})
    return _matrix_exit_code(matrix)


def _matrix_sites(
    spec: str,
    sites: tuple[str | None, ...],
    setup: _Setup,
    progress: Callable[[str, float], None],
) -> list[MatrixSite]:
    """Load every site profile and give each its own target, before any work."""
    profiles = [load_profile(site) for site in sites]
    names = unique_labels([profile.name for profile in profiles])
    return [
        MatrixSite(
            name,
            profile,
            create_target(
                spec, replace(setup.target, profile=profile, progress=progress)
            ),
        )
        for name, profile in zip(names, profiles, strict=True)
    ]


def _site_parallelism(spec: str, parallel: int) -> int:
    """Return how many sites may run at once on this kind of target.

    Rented instances are one per site. On ssh and local the sites share one
    host, its Docker engine and its published ports, so they take turns.
    """
    if parallel > 1 and target_kind(spec) != "aliyun":
        log.warning(
            "--parallel %d ignored: the sites share the one %s host, so they "
            "run one after another",
            parallel,
            target_kind(spec),
        )
        return 1
    return parallel


def _stamp_matrix(matrix: MatrixReport, profiles: dict[str, SiteProfile]) -> None:
    """Stamp each passed run; with several sites, one stamp per site."""
    several_sites = len(profiles) > 1
    for cell in matrix.cells:
        report = cell.report
        if report is None or not report.passed:
            continue
        path = stamp_path_for(cell.tarball)
        if several_sites:
            path = path.with_name(f"{cell.tarball.name}.{cell.site}.stamp.json")
        _stamp(cell.tarball, report, profiles[cell.site], path=path)


def _matrix_exit_code(matrix: MatrixReport) -> int:
    for site, items in matrix.leftovers.items():
        for item in items:
            click.echo(f"error: could not remove {item} (site {site})", err=True)
    for cell in matrix.cells:
        if cell.report is not None:
            for item in cell.report.leftovers:
                click.echo(f"error: could not remove {item}", err=True)
    return matrix.exit_code


def _prepare_report_dir(folder: Path) -> None:
    """Make sure the report can be written before any time or money is spent."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".siteproof-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"cannot write the report into {folder}: {exc.strerror}"
        ) from None


def _chosen_target(spec: str) -> str:
    chosen = spec or default_target_spec()
    if not chosen:
        raise InputError(
            "name the host to verify on with --target",
            hint="--target local, --target ssh://root@HOST, or configure Alibaba "
            "Cloud credentials (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET) for aliyun",
        )
    return chosen


def _stamp(
    tarball: Path,
    report: VerifyReport,
    profile: SiteProfile,
    *,
    path: Path | None = None,
) -> None:
    """Sign a stamp for a passed tarball when the user has a signing key."""
    key = find_signing_key()
    if key is None:
        log.warning("no signing key, so no stamp: run `siteproof key init` once")
        return
    path = write_stamp(
        tarball, report.sha256, report.to_dict(), profile, key, path=path
    )


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


def upload_progress(
    console: Console, *, enabled: bool = True
) -> AbstractContextManager[Callable[[int, int], None] | None]:
    """Return the upload progress bar (drawn only on a terminal)."""
    return byte_progress(console, "uploading", enabled=enabled)
