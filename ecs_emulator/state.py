"""The emulated account: resources, the instance lifecycle, inspection.

All API handlers run under ``EmulatorState.lock``. A ticker thread moves
instances through Pending -> Starting -> Running and Stopping -> gone; the
host factory is called from worker threads so a slow host never blocks the
API.
"""

from __future__ import annotations

import logging
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ecs_emulator import catalog
from ecs_emulator.clock import EmulatorClock
from ecs_emulator.faults import Faults
from ecs_emulator.hosts import HostFactory, HostSpec
from ecs_emulator.resources import (
    PENDING,
    RUNNING,
    STARTING,
    STOPPING,
    CallRecord,
    Instance,
    KeyPair,
    LiveResources,
    SecurityGroup,
    Vpc,
    VSwitch,
)

log = logging.getLogger(__name__)

TICK_S = 0.05
WORKER_JOIN_TIMEOUT_S = 120.0
_ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Delays:
    """How long each lifecycle phase lasts, in emulator-clock seconds."""

    pending_s: float = 0.3
    starting_s: float = 0.3
    stopping_s: float = 0.3
    vpc_s: float = 0.0


class EmulatorState:
    """Every resource of the emulated account, guarded by one lock."""

    def __init__(
        self,
        *,
        clock: EmulatorClock,
        faults: Faults,
        delays: Delays,
        host_factory: HostFactory,
        region: str,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.faults = faults
        self.delays = delays
        self.host_factory = host_factory
        self.region = region
        self.instances: dict[str, Instance] = {}
        self.security_groups: dict[str, SecurityGroup] = {}
        self.key_pairs: dict[tuple[str, str], KeyPair] = {}
        self.vpcs: dict[str, Vpc] = {}
        self.vswitches: dict[str, VSwitch] = {}
        self.calls: list[CallRecord] = []
        self.idempotency: dict[tuple[str, str, str], tuple[object, dict[str, object]]]
        self.idempotency = {}
        self.nonces: set[str] = set()
        self._workers: set[threading.Thread] = set()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # Identifiers

    def new_id(self, prefix: str, region_id: str) -> str:
        """Return a fresh id such as ``i-bp1a2b...`` for a region."""
        region = catalog.find_region(region_id)
        region_part = region.id_prefix if region else "xx"
        suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(18))
        return f"{prefix}-{region_part}{suffix}"

    # Inspection

    def live_resources(self) -> LiveResources:
        """Return what still exists of what API calls created."""
        with self.lock:
            return LiveResources(
                instances=tuple(self.instances),
                security_groups=tuple(self.security_groups),
                key_pairs=tuple(name for _, name in self.key_pairs),
                vpcs=tuple(v for v, r in self.vpcs.items() if not r.preexisting),
                vswitches=tuple(
                    v for v, r in self.vswitches.items() if not r.preexisting
                ),
            )

    def get_instance(self, instance_id: str) -> Instance | None:
        """Return the live record of an instance, or None once it is gone."""
        with self.lock:
            return self.instances.get(instance_id)

    def wait_until_gone(self, timeout_s: float = 5.0) -> bool:
        """Wait until no instance is left; return False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if not self.instances:
                    return True
            time.sleep(TICK_S)
        return False

    def calls_of(self, action: str) -> list[CallRecord]:
        """Return the recorded calls of one action, in order."""
        with self.lock:
            return [c for c in self.calls if c.action == action]

    # Lifecycle

    def start_ticker(self) -> None:
        """Start the thread that moves instances through their states."""
        self._ticker = threading.Thread(
            target=self._tick_forever, name="ecs-emulator-ticker", daemon=True
        )
        self._ticker.start()

    def shutdown(self) -> None:
        """Stop the ticker, wait for workers, and destroy every host left."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self._join_workers()
        with self.lock:
            handles = [i.host_handle for i in self.instances.values() if i.host_handle]
            for instance in self.instances.values():
                instance.host_handle = None
        for handle in handles:
            self._destroy_host(handle)

    def tick(self) -> None:
        """Apply every state change that is due on the emulator clock."""
        now = self.clock.now()
        with self.lock:
            for instance in list(self.instances.values()):
                self._advance(instance, now)

    def begin_release(self, instance: Instance) -> None:
        """Move an instance to Stopping; it disappears after ``stopping_s``."""
        if instance.status != STOPPING:
            instance.status = STOPPING
            instance.phase_since = self.clock.now()

    def _tick_forever(self) -> None:
        while not self._stop.wait(TICK_S):
            self.tick()

    def _advance(self, instance: Instance, now: datetime) -> None:
        """Move one instance on by as many phases as are due."""
        release = instance.auto_release_time
        if release is not None and now >= release and instance.status != STOPPING:
            log.info("instance %s reached its AutoReleaseTime", instance.instance_id)
            self.begin_release(instance)
        since = instance.phase_since or now
        if instance.status == PENDING and _due(since, self.delays.pending_s, now):
            instance.status = STARTING
            instance.phase_since = since = since + timedelta(
                seconds=self.delays.pending_s
            )
        if instance.status == STARTING and _due(since, self.delays.starting_s, now):
            self._maybe_boot(instance)
        if instance.status == STOPPING and _due(since, self.delays.stopping_s, now):
            self._maybe_remove(instance)

    def _maybe_boot(self, instance: Instance) -> None:
        if instance.never_running or instance.booting or instance.host_error:
            return
        if instance.internet_max_bandwidth_out <= 0:
            self._mark_running(instance, "")
            return
        instance.booting = True
        self._spawn(self._boot, instance.instance_id, self._host_spec(instance))

    def _maybe_remove(self, instance: Instance) -> None:
        if instance.booting or instance.removing:
            return
        instance.removing = True
        handle, instance.host_handle = instance.host_handle, None
        self._spawn(self._remove, instance.instance_id, handle)

    def _boot(self, instance_id: str, spec: HostSpec) -> None:
        """Worker: build the host, then mark the instance Running."""
        try:
            address, handle = self.host_factory.create(spec)
        except Exception as exc:
            log.exception("host factory failed for %s", instance_id)
            with self.lock:
                instance = self.instances.get(instance_id)
                if instance is not None:
                    instance.booting = False
                    instance.host_error = f"{type(exc).__name__}: {exc}"
            return
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                self._spawn(self._destroy_host, handle)
                return
            instance.booting = False
            instance.host_handle = handle
            if instance.status == STARTING:
                self._mark_running(instance, address)

    def _mark_running(self, instance: Instance, address: str) -> None:
        now = self.clock.now()
        instance.status = RUNNING
        instance.public_ip = address
        instance.start_time = now
        instance.phase_since = now
        log.info("instance %s is Running at %s", instance.instance_id, address or "-")

    def _remove(self, instance_id: str, handle: object | None) -> None:
        """Worker: destroy the host, then forget the instance."""
        if handle is not None:
            self._destroy_host(handle)
        with self.lock:
            self.instances.pop(instance_id, None)
        log.info("instance %s released", instance_id)

    def _destroy_host(self, handle: object) -> None:
        try:
            self.host_factory.destroy(handle)
        except Exception:
            log.exception("host factory could not destroy %r", handle)

    def _host_spec(self, instance: Instance) -> HostSpec:
        kind = catalog.find_instance_type(instance.instance_type)
        image = catalog.find_image(instance.image_id)
        return HostSpec(
            instance_id=instance.instance_id,
            region_id=instance.region_id,
            zone_id=instance.zone_id,
            instance_type=instance.instance_type,
            architecture=kind.architecture if kind else "arm64",
            cpu=kind.cpu if kind else 1,
            memory_mib=kind.memory_mib if kind else 1024,
            image_id=instance.image_id,
            page_size=image.page_size if image else catalog.PAGE_4K,
            public_key=instance.public_key,
            user_data=instance.user_data,
            start_sshd=instance.start_sshd,
            user_data_outcome=instance.user_data_outcome,
            tags=dict(instance.tags),
        )

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=self._run_worker, args=(target, *args))
        thread.daemon = True
        with self.lock:
            self._workers.add(thread)
        thread.start()

    def _run_worker(self, target: Callable[..., None], *args: object) -> None:
        try:
            target(*args)
        finally:
            with self.lock:
                self._workers.discard(threading.current_thread())

    def _join_workers(self) -> None:
        deadline = time.monotonic() + WORKER_JOIN_TIMEOUT_S
        while time.monotonic() < deadline:
            with self.lock:
                workers = list(self._workers)
            if not workers:
                return
            workers[0].join(timeout=max(0.0, deadline - time.monotonic()))
        log.warning("emulator workers still running after %s s", WORKER_JOIN_TIMEOUT_S)


def _due(since: datetime, delay_s: float, now: datetime) -> bool:
    return now >= since + timedelta(seconds=delay_s)
