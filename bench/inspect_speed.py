"""Benchmark: `siteproof inspect` against `sha256sum` on the same tarball.

Usage: python bench/inspect_speed.py [TARBALL] [--rounds N]

Without TARBALL, the real Debian arm64 + Python image that the test suite
builds (tests/support/images.py) is used. Both commands run as child
processes in the same run, alternating, with the file already in the page
cache; the best of N rounds is compared. Peak memory is the child's maxrss.

Targets (issue 2): time ratio <= 1.5, peak memory < 150 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

TIME_RATIO_TARGET = 1.5
PEAK_MB_TARGET = 150


def _timed(argv: list[str]) -> tuple[float, float]:
    """Run a command; return (seconds, peak resident MB of that child)."""
    started = time.perf_counter()
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    os.close(devnull)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{argv} failed with status {status}")
    return elapsed, usage.ru_maxrss / 1024


def _default_tarball() -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.images import python_app_arm64  # noqa: PLC0415

    return python_app_arm64()


def main() -> int:
    """Run the benchmark and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", nargs="?", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tarball = args.tarball or _default_tarball()
    size_mb = tarball.stat().st_size / 1e6
    inspect = [sys.executable, "-m", "siteproof", "-q", "inspect", str(tarball)]
    inspect += ["--format", "json"]
    baseline = ["sha256sum", str(tarball)]
    subprocess.run(["cat", str(tarball)], stdout=subprocess.DEVNULL, check=True)

    ours, theirs, peaks = [], [], []
    for _ in range(args.rounds):
        seconds, _peak = _timed(baseline)
        theirs.append(seconds)
        seconds, peak = _timed([*inspect])
        ours.append(seconds)
        peaks.append(peak)

    ratio = min(ours) / min(theirs)
    peak = max(peaks)
    print(f"tarball          {tarball} ({size_mb:.0f} MB)")
    print(f"sha256sum        {min(theirs):.2f} s (best of {args.rounds})")
    print(f"siteproof        {min(ours):.2f} s (best of {args.rounds})")
    print(f"time ratio       {ratio:.2f} (target <= {TIME_RATIO_TARGET})")
    print(f"peak memory      {peak:.0f} MB (target < {PEAK_MB_TARGET} MB)")
    return 0 if ratio <= TIME_RATIO_TARGET and peak < PEAK_MB_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
