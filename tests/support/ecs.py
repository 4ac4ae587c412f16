"""Pytest fixtures for the ECS API emulator (ecs_emulator/ at the repo root).

Fixtures:

- ``ecs_emulator``: a fresh emulator per test (addresses nothing answers on),
  stopped in the finalizer; proxy variables are removed for the test because
  the SDK's HTTP layer would otherwise send loopback calls to a proxy.
- ``ecs_client``: an ``alibabacloud_ecs20140526`` client for it.
- ``ecs_emulator_with_hosts``: the same, but every Running instance becomes a
  real test host (netns + sshd + dockerd) through ``TestHostFactory``.

``make_ecs_client(emulator, ...)`` builds more clients (other keys, V1
signatures). Constants ``ECS_TEST_AK``/``ECS_TEST_SECRET``/``ECS_TEST_REGION``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi import models as open_api_models

from support import testhosts

REPO_ROOT = Path(__file__).resolve().parents[2]
if importlib.util.find_spec("ecs_emulator") is None:
    # Plain `pytest` does not put the repository root on sys.path.
    sys.path.insert(0, str(REPO_ROOT))

from ecs_emulator import EmulatorHandle, HostSpec, start_emulator  # noqa: E402
from ecs_emulator.hosts import (  # noqa: E402
    UNANSWERED_ADDRESSES,
    USER_DATA_DONE,
    USER_DATA_FAILED,
)
from ecs_emulator.userdata import (  # noqa: E402
    DONE_MARKER,
    FAILED_MARKER,
    LOG_FILE,
    extract_host_key,
    extract_marker_dir,
)

log = logging.getLogger(__name__)

ECS_TEST_AK = "siteproof-test-ak"
ECS_TEST_SECRET = "siteproof-test-secret"
ECS_TEST_REGION = "cn-hangzhou"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")

__all__ = [
    "ECS_TEST_AK",
    "ECS_TEST_REGION",
    "ECS_TEST_SECRET",
    "TestHostFactory",
    "make_ecs_client",
]


def make_ecs_client(
    emulator: EmulatorHandle | str,
    *,
    access_key_id: str = ECS_TEST_AK,
    access_key_secret: str = ECS_TEST_SECRET,
    region_id: str = ECS_TEST_REGION,
    signature_algorithm: str | None = None,
) -> Client:
    """Return an official SDK client that talks to ``emulator`` over HTTP.

    ``emulator`` is a running emulator or its ``127.0.0.1:PORT`` endpoint.
    """
    endpoint = emulator if isinstance(emulator, str) else emulator.endpoint
    config = open_api_models.Config(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        endpoint=endpoint,
        protocol="http",
        region_id=region_id,
        signature_algorithm=signature_algorithm,
    )
    return Client(config)


class TestHostFactory:
    """Host factory that makes a real test host for each Running instance.

    The instance's imported public key becomes the host's authorized key and
    the ed25519 host key found in its user data (``ecs_emulator.userdata``
    convention) becomes the sshd host key, so the first connection can be
    verified. Under the ``ssh_never_opens`` fault (``start_sshd=False``) no
    host is built and the instance gets an address nothing answers on.

    The rest of the script is not run (the test host already has Docker);
    its ``markers=<dir>`` line gets ``user-data.done`` (or ``.failed`` under
    the ``user_data_fails`` fault), removed again when the host goes.
    """

    __test__ = False  # not a test class

    def __init__(self, state_root: Path) -> None:
        self._testhosts = testhosts
        self._root = state_root
        self._lock = threading.Lock()
        self._hosts: dict[int, testhosts.TestHost] = {}
        self._markers: dict[int, Path] = {}
        self.specs: list[HostSpec] = []
        self._added_blackhole = testhosts.ensure_blackhole_route()

    def create(self, spec: HostSpec) -> tuple[str, object]:
        """Build the test host for ``spec``; return its address and itself."""
        with self._lock:
            self.specs.append(spec)
        if not spec.start_sshd:
            return UNANSWERED_ADDRESSES[0], None
        host_key = self._write_host_key(spec)
        keys = [spec.public_key] if spec.public_key else None
        number = self._testhosts.claim_host_number()
        try:
            host = self._testhosts.create_test_host(
                number, self._root, authorized_keys=keys, host_key=host_key
            )
        except BaseException:
            self._testhosts.release_host_number(number)
            raise
        with self._lock:
            self._hosts[host.number] = host
        log.info("instance %s is test host %s", spec.instance_id, host.address)
        self._finish_user_data(spec, host.number)
        return host.address, host

    def destroy(self, handle: object) -> None:
        """Destroy a host made by ``create`` (None: there was none)."""
        if handle is None:
            return
        number = handle.number  # type: ignore[attr-defined]
        with self._lock:
            host = self._hosts.pop(number, None)
            marker_dir = self._markers.pop(number, None)
        if host is not None:
            self._testhosts.destroy_test_host(host)
        if marker_dir is not None:
            for name in (DONE_MARKER, FAILED_MARKER, LOG_FILE):
                (marker_dir / name).unlink(missing_ok=True)

    def live_hosts(self) -> list[object]:
        """Return the test hosts that still exist."""
        with self._lock:
            return list(self._hosts.values())

    def destroy_all(self) -> None:
        """Destroy every host left (the emulator normally did already)."""
        for host in self.live_hosts():
            self.destroy(host)
        if self._added_blackhole:
            self._testhosts.remove_blackhole_route_if_unused()

    def _finish_user_data(self, spec: HostSpec, number: int) -> None:
        """Leave the completion markers the user data would have left."""
        text = extract_marker_dir(spec.user_data)
        if text is None:
            return
        marker_dir = Path(text)
        marker_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._markers[number] = marker_dir
        with (marker_dir / LOG_FILE).open("a") as log_file:
            log_file.write(f"emulated first boot of {spec.instance_id}\n")
        if spec.user_data_outcome == USER_DATA_DONE:
            (marker_dir / DONE_MARKER).touch()
        elif spec.user_data_outcome == USER_DATA_FAILED:
            (marker_dir / FAILED_MARKER).write_text("exit 1\n")

    def _write_host_key(self, spec: HostSpec) -> Path | None:
        key = extract_host_key(spec.user_data)
        if key is None:
            return None
        path = self._root / f"{spec.instance_id}.host_key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return path


def _drop_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ecs_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove HTTP(S) proxy variables for a test that talks to an emulator."""
    _drop_proxies(monkeypatch)


@pytest.fixture
def ecs_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorHandle]:
    """A fresh ECS API emulator on a free loopback port, stopped afterwards."""
    _drop_proxies(monkeypatch)
    emulator = start_emulator(access_keys={ECS_TEST_AK: ECS_TEST_SECRET})
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def ecs_client(ecs_emulator: EmulatorHandle) -> Client:
    """An SDK client for the ``ecs_emulator`` fixture."""
    return make_ecs_client(ecs_emulator)


@pytest.fixture
def ecs_emulator_with_hosts(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatorHandle]:
    """An emulator whose Running instances are real test hosts."""
    reason = testhosts.missing_requirements()
    if reason:
        if os.environ.get("SITEPROOF_REQUIRE_DOCKER") == "1":
            pytest.fail(f"SITEPROOF_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    _drop_proxies(monkeypatch)
    factory = TestHostFactory(tmp_path_factory.mktemp("ecs-hosts"))
    emulator = start_emulator(
        access_keys={ECS_TEST_AK: ECS_TEST_SECRET}, host_factory=factory
    )
    try:
        yield emulator
    finally:
        emulator.stop()
        factory.destroy_all()
