"""The ``siteproof`` command: a thin layer over the library.

``main`` turns argv into a library call and an exception into an exit code;
nothing below it prints to the user or exits.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from siteproof import __version__
from siteproof.errors import (
    EXIT_BUG,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    SiteproofError,
)
from siteproof.logs import setup_logging

log = logging.getLogger(__name__)

# Subcommands live in their own modules and load only when used.
_COMMANDS = {
    "inspect": "siteproof.cli.inspect:inspect_command",
    "verify": "siteproof.cli.verify:verify_command",
    "cleanup": "siteproof.cli.cleanup:cleanup_command",
    "instances": "siteproof.cli.instances:instances_command",
    "site": "siteproof.cli.site:site_group",
    "key": "siteproof.cli.key:key_group",
    "stamp": "siteproof.cli.stamp:stamp_group",
    "bundle": "siteproof.cli.bundle:bundle_command",
    "build": "siteproof.cli.build:build_command",
}

BUG_MESSAGE = "siteproof hit a bug; please report it with the traceback above"


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="siteproof")
@click.option("-v", "--verbose", count=True, help="More detail (-vv: libraries too).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False),
    help="Also write a DEBUG log to this file.",
)
@click.pass_context
def cli(
    ctx: click.Context, verbose: int, quiet: bool, debug: bool, log_file: str | None
) -> None:
    """Prove that an image tarball loads and runs at an offline ARM site."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    setup_logging(
        verbosity=verbose, quiet=quiet, log_file=Path(log_file) if log_file else None
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code (never raises)."""
    args = list(sys.argv[1:] if argv is None else argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main_thread:
        # A closed terminal (SIGHUP) and SIGTERM clean up like Ctrl-C.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _interrupt)
    try:
        return _invoke(args)
    except SiteproofError as exc:
        return _report_error(exc, debug="--debug" in args)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - the one place that turns bugs into exit 70
        traceback.print_exc()
        click.echo(BUG_MESSAGE, err=True)
        return EXIT_BUG
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: object) -> None:
    """Treat SIGTERM and SIGHUP like Ctrl-C, so teardown in ``finally`` runs."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _invoke(args: list[str]) -> int:
    try:
        result = cli.main(args=args, prog_name="siteproof", standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        command = exc.ctx.command_path if exc.ctx else "siteproof"
        click.echo(f"hint: see `{command} --help`", err=True)
        return EXIT_INPUT
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return EXIT_INPUT
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    return int(result or 0)


def _report_error(exc: SiteproofError, *, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    click.echo(f"error: {exc}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    return exc.exit_code
