"""``siteproof stamp check``: does this tarball carry a valid stamp?"""

from __future__ import annotations

from pathlib import Path

import click

from siteproof.errors import EXIT_FAILED, EXIT_OK
from siteproof.keys import load_public_key
from siteproof.site import load_profile
from siteproof.stamp import check_stamp, stamp_path_for


@click.group("stamp")
def stamp_group() -> None:
    """Check the signed stamps that verify writes after a PASS."""


@click.command("check")
@click.argument("tarball", type=click.Path(path_type=Path))
@click.option(
    "--key",
    "key_path",
    type=click.Path(path_type=Path),
    help="The team's public key (default: your own signing-key.pub).",
)
@click.option(
    "--stamp",
    "stamp_path",
    type=click.Path(path_type=Path),
    help="The stamp file (default: TARBALL.stamp.json).",
)
@click.option(
    "--site", "site", metavar="FILE|NAME", help="Also require this site profile."
)
def check_command(
    tarball: Path, key_path: Path | None, stamp_path: Path | None, site: str | None
) -> int:
    """Check offline that TARBALL passed verification, signed by the key."""
    key = load_public_key(key_path)
    profile = load_profile(site) if site else None
    result = check_stamp(
        tarball, stamp_path or stamp_path_for(tarball), key, profile=profile
    )
    if result.passed:
        click.echo(f"OK    {result.summary()}")
        return EXIT_OK
    for problem in result.problems:
        click.echo(f"FAIL  {problem}")
    return EXIT_FAILED


stamp_group.add_command(check_command)
