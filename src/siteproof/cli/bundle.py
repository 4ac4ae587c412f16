"""``siteproof bundle``: the folder that goes on the USB stick."""

from __future__ import annotations

from pathlib import Path

import click

from siteproof.bundle import parse_size, write_bundle
from siteproof.errors import EXIT_OK
from siteproof.site import load_profile


@click.command("bundle")
@click.argument("tarball", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "folder",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The delivery folder to write (new or empty).",
)
@click.option(
    "--site",
    "site",
    metavar="FILE|NAME",
    help="Site profile whose [run] install.sh uses (default: kylin-v10-arm64).",
)
@click.option(
    "--stamp",
    "stamp",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The stamp to include (default: TARBALL.stamp.json if it exists).",
)
@click.option(
    "--part-size",
    default="4GiB",
    show_default=True,
    help="Split the tarball into parts smaller than this (FAT32 sticks: 4GiB).",
)
@click.option("--name", default="", help="Container name (default: from the image).")
def bundle_command(
    tarball: Path,
    *,
    folder: Path,
    site: str | None,
    stamp: Path | None,
    part_size: str,
    name: str,
) -> int:
    """Write the delivery folder for TARBALL: parts, sums, install.sh, guide."""
    bundle = write_bundle(
        tarball,
        folder,
        load_profile(site),
        stamp=stamp,
        part_size=parse_size(part_size),
        name=name,
    )
    for path in sorted(bundle.folder.iterdir()):
        click.echo(path)
    return EXIT_OK
