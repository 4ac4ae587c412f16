"""Ctrl-C and SIGTERM around work that must not be cut in half."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], object] | int


@contextmanager
def _handled_by(handler: Handler) -> Iterator[None]:
    """Route both stop signals to *handler* for a block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    for sig in saved:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


@contextmanager
def shielded_from_signals() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while cleaning up.

    A second Ctrl-C must not abort the release of a paid instance or the
    removal of a container halfway.
    """
    with _handled_by(signal.SIG_IGN):
        yield


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM until the block is done, then raise.

    For steps that create something whose name is known only when they
    finish (``docker load``): the resource is registered before the
    interrupt lands, so teardown can remove it.
    """
    caught: list[int] = []
    with _handled_by(lambda signum, frame: caught.append(signum)):
        yield
    if caught:
        raise KeyboardInterrupt(signal.Signals(caught[0]).name)
