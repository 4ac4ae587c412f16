"""``siteproof cleanup``: release what earlier cloud runs left behind."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from siteproof.errors import EXIT_OK, TeardownError
from siteproof.journal import Resource, open_runs
from siteproof.site import AliyunSpec, load_profile
from siteproof.targets.aliyun.api import EcsApi
from siteproof.targets.aliyun.sweep import Leftover, find_leftovers, release_leftovers

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def cloud_scope(
    site: str | None, regions: tuple[str, ...], endpoint: str
) -> tuple[list[str], str]:
    """Return the regions and the API endpoint a command should look at."""
    spec = load_profile(site).aliyun if site else AliyunSpec()
    endpoint = endpoint or spec.endpoint
    if regions:
        return list(regions), endpoint
    seen = {run.region for run in open_runs() if run.endpoint == endpoint}
    return sorted(seen | {spec.region}), endpoint


def scope_options(command: F) -> F:
    """Add --site, --region and --endpoint to a cloud command."""
    command = click.option(
        "--endpoint",
        default="",
        metavar="HOST[:PORT]",
        help="ECS API address (private endpoint or an emulator).",
    )(command)
    command = click.option(
        "--region",
        "regions",
        multiple=True,
        metavar="REGION",
        help="Region to look in (repeatable; default: those of the journals "
        "and the site profile).",
    )(command)
    return click.option(
        "--site",
        metavar="FILE|NAME",
        help="Take region and endpoint from this site profile's [aliyun] table.",
    )(command)


@click.command("cleanup")
@scope_options
@click.option("--dry-run", is_flag=True, help="Only list what would be released.")
def cleanup_command(
    site: str | None, regions: tuple[str, ...], endpoint: str, dry_run: bool
) -> int:
    """Release instances, security groups, key pairs and networks left over.

    Journals of earlier runs and the siteproof:run tag in the cloud both
    count; runs still in progress on this machine are left alone.
    """
    chosen, endpoint = cloud_scope(site, regions, endpoint)
    runs = [run for run in open_runs() if run.endpoint == endpoint]
    failed: list[Resource] = []
    total = 0
    for region in chosen:
        api = EcsApi(region=region, endpoint=endpoint)
        in_region = [run for run in runs if run.region == region]
        for run in in_region:
            if run.is_active:
                click.echo(
                    f"leaving run {run.run_id} alone: still in progress "
                    f"(pid {run.pid})",
                    err=True,
                )
        leftovers = find_leftovers(api, in_region)
        total += len(leftovers)
        for leftover in leftovers:
            click.echo(_line(leftover, dry_run=dry_run))
        if leftovers and not dry_run:
            failed += release_leftovers(api, leftovers, in_region)
        elif not dry_run:
            release_leftovers(api, [], in_region)
    if failed:
        raise TeardownError(
            "could not release " + ", ".join(str(r) for r in failed),
            resources=[r.id for r in failed],
            hint="try again later; instances still delete themselves at their "
            "AutoReleaseTime",
        )
    if total == 0:
        click.echo("nothing left over", err=True)
    return EXIT_OK


def _line(leftover: Leftover, *, dry_run: bool) -> str:
    verb = "would release" if dry_run else "releasing"
    resource = leftover.resource
    status = f", {leftover.status}" if leftover.status else ""
    run = leftover.run_id or "unknown run"
    return (
        f"{verb} {resource.kind} {resource.id} ({resource.region}, run {run}, "
        f"found in {leftover.source}{status})"
    )
