"""``siteproof build``: build for the site's platform, save, inspect, verify."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from siteproof.build import build_image, same_image_name
from siteproof.errors import InputError
from siteproof.site import load_profile

log = logging.getLogger(__name__)

_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)
_VERIFY_ONLY = ("target_spec", "report_dir", "identity", "known_hosts")


@click.command("build")
@click.argument("context", type=click.Path(file_okay=False, path_type=Path))
@click.option("--site", "site", metavar="FILE|NAME", help="Site profile file or name.")
@click.option("-t", "--tag", required=True, help="Image name:tag in the tarball.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the docker save tarball goes.",
)
@click.option(
    "-f", "--file", "dockerfile", type=_FILE, help="Default: CONTEXT/Dockerfile."
)
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="KEY=VALUE", help="Repeatable."
)
@click.option("--keep-image", is_flag=True, help="Leave the built tag in the engine.")
@click.option(
    "--docker",
    "docker_client",
    default="docker",
    show_default=True,
    metavar="CLIENT",
    help="Docker client to run, e.g. /usr/bin/docker from docker.io 20.10, "
    "whose BuildKit needs no buildx plugin.",
)
@click.option("--verify", "then_verify", is_flag=True, help="Then run verify on it.")
@click.option(
    "--target",
    "target_spec",
    default="",
    metavar="aliyun[:REGION]|local|ssh://user@host[:port]",
    help="With --verify: where to verify (as verify --target).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --verify: folder for report.txt/json, junit.xml and evidence.",
)
@click.option("--identity", type=_FILE, help="With --verify: SSH private key file.")
@click.option("--known-hosts", type=_FILE, help="With --verify: known_hosts file.")
@click.pass_context
def build_command(  # noqa: PLR0917 - click passes one argument per option
    ctx: click.Context,
    context: Path,
    site: str | None,
    tag: str,
    output: Path,
    dockerfile: Path | None,
    build_args: tuple[str, ...],
    keep_image: bool,
    docker_client: str,
    then_verify: bool,
    target_spec: str,
    report_dir: Path | None,
    identity: Path | None,
    known_hosts: Path | None,
) -> int:
    """Build CONTEXT for the site's platform into a tarball the site can load.

    Runs docker buildx build (or the engine's own builder) with --platform
    set to the site's, never pulls (base images must be in the engine),
    writes OUTPUT with docker save (zstd or OCI-only results are rewritten
    for an older site Docker), removes the tag from the engine, and
    inspects OUTPUT. With --verify it then runs `siteproof verify` on it.

    Exit codes: 0 built and passed; 1 the image fails inspect or verify;
    2 bad input, including a Dockerfile that does not build; 3 no Docker
    engine, or verify's infrastructure failed; 4 as verify.
    """
    _require_verify_for(ctx, then_verify)
    profile = load_profile(site)
    if profile.run.image and not same_image_name(profile.run.image, tag):
        log.warning("the site starts %s but this builds %s", profile.run.image, tag)
    build_image(
        context,
        profile,
        tag=tag,
        output=output,
        dockerfile=dockerfile,
        build_args=parse_build_args(build_args),
        keep_image=keep_image,
        docker=docker_client,
    )
    from siteproof.cli.inspect import inspect_command  # noqa: PLC0415 - lazy CLI

    inspected = int(ctx.invoke(inspect_command, tarball=output, site=site))
    if not then_verify:
        return inspected
    return _verify(ctx, output, site, target_spec, report_dir, identity, known_hosts)


def _verify(  # noqa: PLR0917 - the verify options, passed through
    ctx: click.Context,
    tarball: Path,
    site: str | None,
    target_spec: str,
    report_dir: Path | None,
    identity: Path | None,
    known_hosts: Path | None,
) -> int:
    """Run exactly ``siteproof verify`` on the built tarball."""
    from siteproof.cli.verify import verify_command  # noqa: PLC0415 - lazy CLI

    click.echo("", err=True)
    return int(
        ctx.invoke(
            verify_command,
            tarball=tarball,
            site=site,
            target_spec=target_spec,
            report_dir=report_dir,
            identity=identity,
            known_hosts=known_hosts,
        )
    )


def _require_verify_for(ctx: click.Context, then_verify: bool) -> None:
    if then_verify:
        return
    for name in _VERIFY_ONLY:
        if ctx.params.get(name):
            flag = "--" + name.removesuffix("_spec").removesuffix("_dir")
            raise click.UsageError(f"{flag.replace('_', '-')} needs --verify")


def parse_build_args(values: tuple[str, ...]) -> dict[str, str]:
    """Turn ``KEY=VALUE`` strings into a mapping.

    Raises:
        InputError: a value has no ``=`` or an empty key.
    """
    parsed = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--build-arg {value!r} is not KEY=VALUE")
        parsed[key.strip()] = text
    return parsed
