"""Run the emulator on its own: ``python -m ecs_emulator --port N``.

With ``--test-hosts DIR`` (root only) every Running instance becomes a real
test host (tests/support/ecs.py ``TestHostFactory``), so a whole
``siteproof verify --endpoint`` run works on one machine, labelled emulated.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from ecs_emulator.hosts import HostFactory
from ecs_emulator.server import DEFAULT_ACCESS_KEYS, start_emulator

TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, print its endpoint, serve until interrupted."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    factory = _test_host_factory(args.test_hosts) if args.test_hosts else None
    emulator = start_emulator(
        port=args.port,
        access_keys={args.access_key_id: args.access_key_secret},
        region=args.region,
        host_factory=factory,
    )
    sys.stdout.write(f"endpoint: {emulator.endpoint}\n")
    sys.stdout.flush()
    try:
        _wait_for_signal()
    finally:
        emulator.stop()
        if factory is not None:
            factory.destroy_all()  # type: ignore[attr-defined]
    return 0


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (also when the shell ignored SIGINT)."""
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ecs_emulator")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--access-key-id", default=next(iter(DEFAULT_ACCESS_KEYS)))
    parser.add_argument(
        "--access-key-secret", default=next(iter(DEFAULT_ACCESS_KEYS.values()))
    )
    parser.add_argument("--region", default="cn-hangzhou")
    parser.add_argument(
        "--test-hosts",
        type=Path,
        metavar="DIR",
        help="make each Running instance a real test host, state under DIR",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _test_host_factory(state_root: Path) -> HostFactory:
    """Load the test-host factory from the repository's test support code."""
    sys.path.insert(0, str(TESTS_DIR))
    from support.ecs import (  # type: ignore[import-not-found]  # noqa: PLC0415
        TestHostFactory,
    )

    state_root.mkdir(parents=True, exist_ok=True)
    factory: HostFactory = TestHostFactory(state_root.resolve())
    return factory


if __name__ == "__main__":
    raise SystemExit(main())
