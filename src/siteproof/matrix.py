"""Several tarballs on several sites: one host per site, one combined report.

Each site gets its own target (for aliyun: its own rented instance). The
tarballs of a site run one after another over that host's one session, and
the host is released after the last of them, whatever happens (see
:func:`siteproof.pipeline.verify_series`). Sites run side by side in threads,
at most ``parallel`` at a time; the work is waiting on the network.

Ctrl-C and SIGTERM reach the main thread only. The main thread then sets a
:class:`Cancellation`, and every site's thread stops at its next phase,
upload chunk or wait poll, tears down and releases its host; only then is
the interrupt raised again.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siteproof.errors import (
    EXIT_FAILED,
    EXIT_INFRA,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_TEARDOWN,
    SiteproofError,
)
from siteproof.pipeline import VerifyOptions, verify_series
from siteproof.remote.base import ProgressCallback
from siteproof.report.verify import Verdict, VerifyReport
from siteproof.site import SiteProfile
from siteproof.targets.base import Target

log = logging.getLogger(__name__)

# Worst first: something left rented costs money, then a run that was not
# judged, bad input, a failed image, a pass.
EXIT_ORDER = (EXIT_TEARDOWN, EXIT_INFRA, EXIT_INPUT, EXIT_FAILED, EXIT_OK)
_VERDICT_EXIT = {
    Verdict.PASS: EXIT_OK,
    Verdict.FAIL: EXIT_FAILED,
    Verdict.ERROR: EXIT_INFRA,
}

# Phases that must run even after a cancel: they are the cleaning up.
_CLEANUP_PHASES = frozenset({"teardown"})


def worst_exit_code(codes: Sequence[int]) -> int:
    """Return the code that matters most: 4, then 3, 2, 1, 0 (0 when empty)."""
    for code in EXIT_ORDER:
        if code in codes:
            return code
    return EXIT_OK


def report_exit_code(report: VerifyReport) -> int:
    """Return one run's exit code: 4 when something was left, else the verdict's."""
    if report.leftovers:
        return EXIT_TEARDOWN
    return _VERDICT_EXIT[report.verdict]


class Cancellation:
    """A flag the main thread raises to stop every site's thread at a safe point."""

    def __init__(self) -> None:
        """Start not cancelled."""
        self._event = threading.Event()

    @property
    def is_set(self) -> bool:
        """Tell whether the matrix was interrupted."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Ask every site to stop, tear down and release."""
        self._event.set()

    def check(self) -> None:
        """Raise KeyboardInterrupt in the calling thread when cancelled.

        Raises:
            KeyboardInterrupt: when :meth:`cancel` was called.
        """
        if self._event.is_set():
            raise KeyboardInterrupt("cancelled")

    def on_phase(
        self, then: Callable[[str], None] | None = None
    ) -> Callable[[str], None]:
        """Return a phase callback that stops before any phase but teardown."""

        def started(name: str) -> None:
            if name not in _CLEANUP_PHASES:
                self.check()
            if then is not None:
                then(name)

        return started

    def on_upload(self, then: ProgressCallback | None = None) -> ProgressCallback:
        """Return an upload progress callback that stops a cancelled upload."""

        def sent(done: int, total: int) -> None:
            self.check()
            if then is not None:
                then(done, total)

        return sent

    def on_wait(
        self, then: Callable[[str, float], None] | None = None
    ) -> Callable[[str, float], None]:
        """Return a wait progress callback that stops a cancelled wait."""

        def waited(what: str, elapsed_s: float) -> None:
            self.check()
            if then is not None:
                then(what, elapsed_s)

        return waited


@dataclass(frozen=True, slots=True)
class MatrixSite:
    """One site of the matrix and the host it gets.

    Attributes:
        name: short unique label (file stem or built-in name).
        profile: the site profile.
        target: where its tarballs run; opened once, released once.
    """

    name: str
    profile: SiteProfile
    target: Target


@dataclass(frozen=True, slots=True)
class MatrixOptions:
    """How to run the matrix.

    Attributes:
        report_dir: combined report here, each run in ``<site>/<tarball>/``.
        keep: leave everything on the hosts (``--keep``).
        no_preflight: skip ``inspect``.
        parallel: how many sites run at the same time (at least 1).
        on_upload: upload progress, only used when one site runs at a time.
        cancellation: stops the site threads after Ctrl-C or SIGTERM.
    """

    report_dir: Path | None = None
    keep: bool = False
    no_preflight: bool = False
    parallel: int = 1
    on_upload: ProgressCallback | None = None
    cancellation: Cancellation = field(default_factory=Cancellation)


@dataclass(frozen=True, slots=True)
class MatrixCell:
    """One tarball on one site.

    Attributes:
        tarball: the tarball as given.
        site: the site's label.
        report: the run's report, when the run produced one.
        error: the input error that stopped the run otherwise.
        folder: the run's report folder, if any.
    """

    tarball: Path
    site: str
    report: VerifyReport | None = None
    error: SiteproofError | None = None
    folder: Path | None = None

    @property
    def exit_code(self) -> int:
        """Return this run's exit code."""
        if self.report is not None:
            return report_exit_code(self.report)
        return self.error.exit_code if self.error is not None else EXIT_INFRA

    @property
    def verdict(self) -> str:
        """Return ``pass``, ``fail``, ``error`` or ``input-error``."""
        return str(self.report.verdict) if self.report else "input-error"

    @property
    def reason(self) -> str:
        """Return why it did not pass ("" for a pass)."""
        if self.report is None:
            return self.error.message if self.error is not None else ""
        left = "; ".join(self.report.leftovers)
        return self.report.reason or (f"could not remove: {left}" if left else "")

    def to_dict(self) -> dict[str, Any]:
        """Return the cell as JSON-ready data, with the run's full report."""
        return {
            "tarball": str(self.tarball),
            "site": self.site,
            "verdict": self.verdict,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "folder": str(self.folder) if self.folder else None,
            "report": self.report.to_dict() if self.report else None,
        }


@dataclass(frozen=True, slots=True)
class MatrixReport:
    """Every tarball on every site.

    Attributes:
        cells: one per (tarball, site), tarballs in order within sites in order.
        leftovers: per site, what releasing its host could not give back.
    """

    cells: tuple[MatrixCell, ...]
    leftovers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """Return the worst exit code of all runs and releases."""
        codes = [cell.exit_code for cell in self.cells]
        if any(self.leftovers.values()):
            codes.append(EXIT_TEARDOWN)
        return worst_exit_code(codes)

    def to_dict(self) -> dict[str, Any]:
        """Return the whole matrix as JSON-ready data."""
        return {
            "exit_code": self.exit_code,
            "runs": [cell.to_dict() for cell in self.cells],
            "leftovers": {site: list(items) for site, items in self.leftovers.items()},
        }


def unique_labels(names: Sequence[str]) -> list[str]:
    """Return file-name-safe labels, made unique with ``-2``, ``-3``..."""
    labels: list[str] = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "run"
        label, number = base, 2
        while label in labels:
            label, number = f"{base}-{number}", number + 1
        labels.append(label)
    return labels


def run_matrix(
    tarballs: Sequence[Path], sites: Sequence[MatrixSite], options: MatrixOptions
) -> MatrixReport:
    """Verify every tarball on every site; release every site's host.

    Args:
        tarballs: the tarballs, run in this order on each site.
        sites: the sites, each with its own target.
        options: report folder, ``--keep``, parallelism, callbacks.

    Returns:
        the combined report (not yet written anywhere).

    Raises:
        KeyboardInterrupt: after every started site tore down and released.
    """
    parallel = max(1, min(options.parallel, len(sites)))
    log.info(
        "verify matrix: %d tarball(s) x %d site(s), %d site(s) at a time",
        len(tarballs),
        len(sites),
        parallel,
    )
    if parallel == 1:
        results = [_run_site(tarballs, site, options) for site in sites]
    else:
        results = _run_sites_in_threads(tarballs, sites, options, parallel)
    cells = tuple(cell for cells, _ in results for cell in cells)
    leftovers = {
        site.name: left for site, (_, left) in zip(sites, results, strict=True) if left
    }
    return MatrixReport(cells, leftovers)


_SiteResult = tuple[list[MatrixCell], tuple[str, ...]]


def _run_site(
    tarballs: Sequence[Path], site: MatrixSite, options: MatrixOptions
) -> _SiteResult:
    """Run the site's tarballs on its host; the host is released at the end."""
    folders = _run_folders(tarballs, site, options.report_dir)
    cancel = options.cancellation
    run_options = [
        VerifyOptions(
            report_dir=folder,
            keep=options.keep,
            no_preflight=options.no_preflight,
            on_phase=cancel.on_phase(),
            on_upload=cancel.on_upload(options.on_upload),
        )
        for folder in folders
    ]
    log.info("site %s: %d tarball(s) on one host", site.name, len(tarballs))
    series = verify_series(tarballs, site.profile, site.target, run_options)
    cells = [
        MatrixCell(
            tarball=tarball,
            site=site.name,
            report=outcome if isinstance(outcome, VerifyReport) else None,
            error=outcome if isinstance(outcome, SiteproofError) else None,
            folder=folder,
        )
        for tarball, outcome, folder in zip(
            tarballs, series.outcomes, folders, strict=True
        )
    ]
    return cells, series.leftovers


def _run_folders(
    tarballs: Sequence[Path], site: MatrixSite, report_dir: Path | None
) -> list[Path | None]:
    if report_dir is None:
        return [None] * len(tarballs)
    labels = unique_labels([tarball.stem for tarball in tarballs])
    return [report_dir / site.name / label for label in labels]


def _run_sites_in_threads(
    tarballs: Sequence[Path],
    sites: Sequence[MatrixSite],
    options: MatrixOptions,
    parallel: int,
) -> list[_SiteResult]:
    """Run sites side by side; on an interrupt, let each one clean up first."""
    executor = ThreadPoolExecutor(parallel, thread_name_prefix="site")
    futures = [executor.submit(_run_site, tarballs, site, options) for site in sites]
    try:
        _wait_all(futures)
    except BaseException:
        log.warning("stopping: every started site tears down and releases its host")
        options.cancellation.cancel()
        executor.shutdown(wait=False, cancel_futures=True)
        _wait_for_cleanup(futures)
        raise
    finally:
        executor.shutdown(wait=True)
    return [future.result() for future in futures]


def _wait_all(futures: list[Future[_SiteResult]]) -> None:
    """Wait for every site; a site's unexpected crash stops the others."""
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    for future in done:
        error = future.exception()
        if error is not None:
            raise error


def _wait_for_cleanup(futures: list[Future[_SiteResult]]) -> None:
    """Wait until every started site is done, through further interrupts."""
    while True:
        try:
            wait(futures)
        except KeyboardInterrupt:
            log.warning("still releasing; please wait")
            continue
        return
