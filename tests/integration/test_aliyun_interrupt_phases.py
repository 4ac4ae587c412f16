"""Ctrl-C and SIGTERM while uploading and while checking leave nothing behind.

A child process runs the real ``siteproof verify --target aliyun`` against
the emulator in this process, whose instances are real test hosts. The test
signals the child when its log shows the phase has begun, then checks that
the child exited 130, that the emulator holds nothing, and that the host had
no container, image, network or upload of the run left when it went away.
(Waiting for stock and booting: see ``test_aliyun_interrupt.py``.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ecs_emulator import EmulatorHandle

from siteproof.deploy import UPLOAD_ROOT
from support.aliyun_cloud import calls, cloud_environment
from support.testhosts import TestHost, host_run, shape_link

pytestmark = [pytest.mark.ssh, pytest.mark.docker, pytest.mark.slow]

SITE = """
[site]
platform = "linux/arm64"
docker = "20.10"
page_size = "4k"
cgroup = "v1"
offline = true

[[check]]
alive = true
settle = "1s"
{extra}
"""
# Nothing listens on port 9, so this check retries for a minute.
SLOW_CHECK = '[[check]]\nhttp = "http://127.0.0.1:9/"\nwithin = "60s"\n'
# The host belongs to the one run, so anything at all is a leftover.
HOST_PROBES = (
    "docker ps -aq",
    "docker image ls -q",
    "docker network ls -q --filter name=siteproof-",
    "iptables -S DOCKER-USER | grep -F 'siteproof run'",
)
SIGNALS = pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)


@dataclass
class Child:
    """A ``siteproof verify`` process and the log lines it wrote so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, tick: Callable[[], None] = lambda: None) -> None:
        deadline = time.monotonic() + 90
        while not re.search(pattern, self.output):
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.output}"
            tick()
            time.sleep(0.05)

    @property
    def run_ids(self) -> list[str]:
        found = re.findall(r"verify run (\S+):", self.output)
        assert found, self.output
        return found


@pytest.fixture
def host_snapshots(aliyun_emu_hosts: EmulatorHandle) -> dict[str, list[str]]:
    """What each test host held (for the run's tag) just before it went away."""
    factory = aliyun_emu_hosts.host_factory
    destroy = factory.destroy
    snapshots: dict[str, list[str]] = {}

    def snapshot_then_destroy(handle: object) -> None:
        if isinstance(handle, TestHost):
            snapshots[handle.address] = [
                _host_sh(handle, command) for command in HOST_PROBES
            ]
        destroy(handle)

    factory.destroy = snapshot_then_destroy  # type: ignore[method-assign]
    return snapshots


def _host_sh(host: TestHost, command: str) -> str:
    return host_run(host, command, check=False).stdout.strip()


@pytest.fixture
def verify_child(
    aliyun_emu_hosts: EmulatorHandle, cloud_env: Path, tmp_path: Path
) -> Iterator[Callable[..., Child]]:
    """Start ``siteproof -v verify TARBALL --site ... --target aliyun``."""
    children: list[Child] = []

    def start(tarball: Path, extra: str, sites: int = 1) -> Child:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env |= cloud_environment(cloud_env) | {"COLUMNS": "300"}
        argv = [sys.executable, "-m", "siteproof", "-v", "verify", str(tarball)]
        for number in range(1, sites + 1):
            site = tmp_path / f"site{number}.toml"
            site.write_text(SITE.format(extra=extra))
            argv += ["--site", str(site)]
        argv += ["--target", "aliyun", "--endpoint", aliyun_emu_hosts.endpoint]
        argv += ["--parallel", str(sites)]
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        child = Child(process)
        threading.Thread(target=child.read, daemon=True).start()
        children.append(child)
        return child

    yield start
    for child in children:
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait()


def _interrupt(child: Child, signum: int) -> int:
    child.process.send_signal(signum)
    return child.process.wait(timeout=90)


def _assert_nothing_left(
    child: Child, emu: EmulatorHandle, snapshots: dict[str, list[str]], hosts: int = 1
) -> None:
    emu.state.wait_until_gone(timeout_s=10)
    assert emu.state.live_resources().is_empty()
    assert len(calls(emu, "DeleteInstance")) >= 1
    assert len(snapshots) == hosts, snapshots  # each host was seen going away
    assert [item for items in snapshots.values() for item in items if item] == []
    for run_id in child.run_ids:
        assert not (Path(UPLOAD_ROOT) / run_id).exists()
    assert child.output.count("released everything of run") == hosts


@SIGNALS
def test_aliyun_interrupt_while_uploading_releases_everything(
    aliyun_emu_hosts: EmulatorHandle,
    verify_child: Callable[..., Child],
    host_snapshots: dict[str, list[str]],
    runtime_images: dict[str, Path],
    signum: int,
) -> None:
    child = verify_child(runtime_images["good"], "")
    shaped: list[object] = []

    child.wait_for(r"\bhost root@\S+: ", tick=_shaper(aliyun_emu_hosts, shaped))
    time.sleep(0.5)  # well inside the upload
    code = _interrupt(child, signum)

    assert code == 130, child.output
    assert shaped
    assert "sha256 verified" not in child.output  # the upload never finished
    assert "docker load" not in child.output
    assert "removed folder" in child.output
    _assert_nothing_left(child, aliyun_emu_hosts, host_snapshots)


@SIGNALS
def test_aliyun_interrupt_while_checking_releases_everything(
    aliyun_emu_hosts: EmulatorHandle,
    verify_child: Callable[..., Child],
    host_snapshots: dict[str, list[str]],
    runtime_images: dict[str, Path],
    signum: int,
) -> None:
    child = verify_child(runtime_images["good"], SLOW_CHECK)

    child.wait_for(r"started container siteproof-")
    time.sleep(1.5)  # the checks run now; the http one retries for a minute
    code = _interrupt(child, signum)

    assert code == 130, child.output
    assert "check http" not in child.output  # the checks never finished
    assert "removed container siteproof-" in child.output
    _assert_nothing_left(child, aliyun_emu_hosts, host_snapshots)


def _shaper(emu: EmulatorHandle, shaped: list[object]) -> Callable[[], None]:
    """Return a poll step that slows every new host's link, so uploads last."""

    def shape_new_hosts() -> None:
        for host in emu.host_factory.live_hosts():
            if host not in shaped:
                shape_link(host, "2mbit")  # type: ignore[arg-type]
                shaped.append(host)

    return shape_new_hosts


def test_aliyun_interrupt_of_a_parallel_matrix_releases_every_site(
    aliyun_emu_hosts: EmulatorHandle,
    verify_child: Callable[..., Child],
    host_snapshots: dict[str, list[str]],
    runtime_images: dict[str, Path],
) -> None:
    child = verify_child(runtime_images["good"], "", sites=2)
    shaped: list[object] = []

    child.wait_for(
        r"\bhost root@\S+: (.|\n)*\bhost root@\S+: ",
        tick=_shaper(aliyun_emu_hosts, shaped),
    )
    time.sleep(0.5)  # both sites upload now, each in its own thread
    code = _interrupt(child, signal.SIGTERM)

    assert code == 130, child.output
    assert len(shaped) == 2
    assert "every started site tears down and releases its host" in child.output
    # A site thread stops at its next upload chunk or phase: before loading.
    assert "docker load took" not in child.output
    _assert_nothing_left(child, aliyun_emu_hosts, host_snapshots, hosts=2)
