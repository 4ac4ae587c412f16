"""``siteproof site``: describe the customer's server."""

from __future__ import annotations

import click

from siteproof.errors import EXIT_OK
from siteproof.probe import probe_script


@click.group("site")
def site_group() -> None:
    """Work with site profiles (site.toml)."""


@click.command("probe")
@click.option(
    "--container",
    default="",
    metavar="NAME",
    help="Also record how this running container is started ([run]).",
)
def probe_command(container: str) -> int:
    """Print a shell script that writes site.toml on the site's server.

    Save it, carry it to the server, and run it there: sh probe.sh
    """
    click.echo(probe_script(container), nl=False)
    return EXIT_OK


site_group.add_command(probe_command)
