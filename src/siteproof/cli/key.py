"""``siteproof key``: the team's signing key for stamps."""

from __future__ import annotations

import click

from siteproof.errors import EXIT_OK
from siteproof.keys import create_signing_key, load_public_key


@click.group("key")
def key_group() -> None:
    """Create and show the ed25519 key that signs stamps."""


@click.command("init")
@click.option("--force", is_flag=True, help="Replace an existing key.")
def init_command(force: bool) -> int:
    """Create the signing key in the user's config folder."""
    public_path = create_signing_key(force=force)
    public = load_public_key(public_path)
    click.echo(f"public key  {public_path}")
    click.echo(f"key id      {public.key_id}")
    click.echo("share the public key file with whoever checks stamps")
    return EXIT_OK


@click.command("show")
def show_command() -> int:
    """Print the public key line and its fingerprint."""
    public = load_public_key()
    click.echo(public.openssh)
    click.echo(public.key_id)
    return EXIT_OK


key_group.add_command(init_command)
key_group.add_command(show_command)
