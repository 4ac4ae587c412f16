"""Logging setup: the only module that touches handlers and formatters."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from siteproof.errors import InputError

_NOISY_LIBRARIES = ("asyncssh", "paramiko", "urllib3", "alibabacloud", "Tea")


def setup_logging(
    *, verbosity: int = 0, quiet: bool = False, log_file: Path | None = None
) -> None:
    """Send siteproof's log to stderr and optionally to a file.

    Args:
        verbosity: 0 INFO, 1 DEBUG for siteproof, 2 DEBUG for every library.
        quiet: show warnings and errors only.
        log_file: also write everything at DEBUG to this file.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    level = logging.WARNING if quiet else logging.DEBUG if verbosity else logging.INFO
    stderr = Console(stderr=True)
    console: logging.Handler
    if stderr.is_terminal:
        console = RichHandler(
            console=stderr,
            show_path=False,
            show_time=verbosity > 0,
            markup=False,
            rich_tracebacks=False,
        )
    else:
        # Piped or captured: plain lines, no padding, no wrapping.
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    console.setLevel(level)
    root.addHandler(console)
    root.setLevel(logging.DEBUG if (verbosity or log_file) else level)
    if log_file is not None:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"cannot write the log file {log_file}: {exc.strerror}"
            ) from None
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        handler.setLevel(logging.DEBUG)
        root.addHandler(handler)
    library_level = logging.DEBUG if verbosity >= 2 else logging.WARNING
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
