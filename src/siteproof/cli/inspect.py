"""``siteproof inspect``: judge a tarball statically, in seconds, offline."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from siteproof.errors import EXIT_FAILED, EXIT_OK
from siteproof.inspect import inspect_tarball
from siteproof.report.console import byte_progress, render_inspect
from siteproof.site import load_profile


@click.command("inspect")
@click.argument("tarball", type=click.Path(path_type=Path))
@click.option(
    "--site",
    "site",
    metavar="FILE|NAME",
    help="Site profile: a site.toml file or a built-in name "
    "(default: kylin-v10-arm64).",
)
@click.option(
    "--image", "image_ref", default="", help="Which image of the tarball starts."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def inspect_command(
    tarball: Path, site: str | None, image_ref: str, output_format: str
) -> int:
    """Predict what breaks when TARBALL meets the site, without Docker."""
    profile = load_profile(site)
    stderr = Console(stderr=True)
    is_text = output_format == "text"
    with byte_progress(stderr, "reading layers", enabled=is_text) as progress:
        report = inspect_tarball(
            tarball, profile, image_ref=image_ref, progress=progress
        )
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        stdout = Console()
        # Paths must survive a pipe or a file whole, so wrap only on a terminal.
        stdout.soft_wrap = not stdout.is_terminal
        render_inspect(report, stdout)
    return EXIT_OK if report.passed else EXIT_FAILED
