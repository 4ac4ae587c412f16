"""Fixtures for the aliyun target's tests: credentials, journals, emulators.

- ``cloud_env``: emulator credentials in the environment, a private
  ``SITEPROOF_STATE_DIR``, no proxy variables, and a guard that fails the
  test if anything connects beyond loopback and the test-host network.
- ``aliyun_emu``: an ECS emulator (default VPC) that must be empty when the
  test ends.
- ``aliyun_emu_hosts``: the same, but Running instances are real test hosts.

Helpers: ``FAST`` (short retries and deadlines), ``make_target``, ``calls``,
``with_aliyun``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ecs_emulator import EmulatorHandle, start_emulator

from siteproof.site import SiteProfile, load_profile
from siteproof.targets.aliyun import (
    AliyunOptions,
    AliyunTarget,
    Deadlines,
    ReleasePolicy,
    RetryPolicy,
)
from support.ecs import ECS_TEST_AK, ECS_TEST_SECRET

FAST = AliyunOptions(
    retry=RetryPolicy(attempts=4, first_delay_s=0.01, max_delay_s=0.05),
    deadlines=Deadlines(
        running_s=5.0, public_ip_s=2.0, ssh_s=20.0, user_data_s=5.0, poll_s=0.05
    ),
    release=ReleasePolicy(deadline_s=15.0, poll_s=0.05),
)
TEST_NET = ipaddress.ip_network("198.51.100.0/24")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


def is_allowed_address(address: Any) -> bool:
    """Tell whether a socket address is loopback or a test host (or not IP)."""
    if not isinstance(address, tuple):
        return True  # a Unix socket
    try:
        ip = ipaddress.ip_address(address[0])
    except ValueError:
        return False  # a name: these tests never resolve names
    return ip.is_loopback or ip in TEST_NET


def guard_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything connects beyond loopback and test hosts."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        assert is_allowed_address(address), f"connection to {address} refused"
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        assert is_allowed_address(address), f"connection to {address} refused"
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


def cloud_environment(state_dir: Path) -> dict[str, str]:
    """Return the variables a siteproof process needs to use the emulator."""
    return {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": ECS_TEST_AK,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ECS_TEST_SECRET,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "SITEPROOF_STATE_DIR": str(state_dir),
    }


@pytest.fixture
def cloud_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Credentials for the emulator, a private journal folder, no way out."""
    guard_connections(monkeypatch)
    for name in (*PROXY_VARIABLES, "ALIBABA_CLOUD_ECS_METADATA"):
        monkeypatch.delenv(name, raising=False)
    state_dir = tmp_path / "state"
    for name, value in cloud_environment(state_dir).items():
        monkeypatch.setenv(name, value)
    return state_dir


def _assert_empty(handle: EmulatorHandle) -> None:
    handle.state.wait_until_gone(timeout_s=10)
    live = handle.state.live_resources()
    assert live.is_empty(), f"left behind: {live}"


@pytest.fixture
def aliyun_emu(cloud_env: Path) -> Iterator[EmulatorHandle]:
    """An emulator with a default VPC; must be empty when the test ends."""
    handle = start_emulator(access_keys={ECS_TEST_AK: ECS_TEST_SECRET})
    try:
        yield handle
        _assert_empty(handle)
    finally:
        handle.stop()


@pytest.fixture
def aliyun_emu_hosts(
    cloud_env: Path, ecs_emulator_with_hosts: EmulatorHandle
) -> Iterator[EmulatorHandle]:
    """An emulator whose Running instances are real test hosts."""
    yield ecs_emulator_with_hosts
    _assert_empty(ecs_emulator_with_hosts)


def make_target(
    emu: EmulatorHandle, profile: SiteProfile | None = None, **options: Any
) -> AliyunTarget:
    """Return a target for the emulator with short retries and deadlines."""
    profile = profile or load_profile("kylin-v10-arm64")
    chosen = replace(FAST, endpoint=emu.endpoint, **options)
    return AliyunTarget(profile, options=chosen)


def calls(emu: EmulatorHandle, action: str) -> list[dict[str, str]]:
    """Return the parameters of every call of one action, in order."""
    return [dict(c.params) for c in emu.state.calls if c.action == action]


def with_aliyun(profile: SiteProfile, **fields: Any) -> SiteProfile:
    """Return the profile with some ``[aliyun]`` settings changed."""
    return replace(profile, aliyun=replace(profile.aliyun, **fields))
