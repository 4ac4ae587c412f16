"""The hook that turns a Running instance into something reachable.

A host factory gets a ``HostSpec`` when an instance reaches Running and
returns the public address plus an opaque handle; ``destroy(handle)`` runs when
the instance is released or the emulator stops. Factories must be thread-safe:
several instances may boot at once.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Protocol

UNANSWERED_ADDRESSES = tuple(f"198.51.100.{n}" for n in range(251, 255))
USER_DATA_DONE = "done"
USER_DATA_FAILED = "failed"
USER_DATA_HANGS = "hang"


@dataclass(frozen=True)
class HostSpec:
    """Everything a factory needs to build a host for one instance."""

    instance_id: str
    region_id: str
    zone_id: str
    instance_type: str
    architecture: str
    cpu: int
    memory_mib: int
    image_id: str
    page_size: int
    public_key: str | None
    user_data: bytes | None
    start_sshd: bool
    user_data_outcome: str = USER_DATA_DONE
    tags: dict[str, str] = field(default_factory=dict)


class HostFactory(Protocol):
    """Makes and removes the host behind an emulated instance."""

    def create(self, spec: HostSpec) -> tuple[str, object]:
        """Build a host; return its public IP address and a handle."""
        ...

    def destroy(self, handle: object) -> None:
        """Remove a host built by ``create``."""
        ...


class UnansweredAddressFactory:
    """Default factory: an address in TEST-NET-2 that nothing answers on.

    198.51.100.251-254 sit above the test hosts' range (2-250) and behind the
    blackhole route, so a connection attempt just times out.
    """

    def __init__(self) -> None:
        self._addresses = itertools.cycle(UNANSWERED_ADDRESSES)
        self._lock = threading.Lock()

    def create(self, spec: HostSpec) -> tuple[str, object]:
        """Return the next unanswered address; the handle is the address."""
        with self._lock:
            address = next(self._addresses)
        return address, address

    def destroy(self, handle: object) -> None:
        """Nothing to remove."""
