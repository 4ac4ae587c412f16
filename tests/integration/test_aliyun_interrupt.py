"""Ctrl-C and SIGTERM while renting leave nothing behind.

A small driver runs the aliyun target in a child process against the
emulator in this one; the test signals it in a given phase and then checks
that the emulator holds nothing any more.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ecs_emulator import EmulatorHandle

from siteproof.cli import main
from support.aliyun_cloud import calls, cloud_environment

DRIVER = textwrap.dedent(
    """
    import signal
    import sys

    from siteproof.site import load_profile
    from siteproof.targets.aliyun import (
        AliyunOptions, AliyunTarget, Deadlines, ReleasePolicy, RetryPolicy,
    )


    def interrupt(signum, frame):
        raise KeyboardInterrupt(signum)


    signal.signal(signal.SIGTERM, interrupt)  # as siteproof.cli.main does
    options = AliyunOptions(
        endpoint=sys.argv[1],
        retry=RetryPolicy(attempts=1000, first_delay_s=0.1, max_delay_s=0.2),
        deadlines=Deadlines(running_s=120.0, poll_s=0.1),
        release=ReleasePolicy(deadline_s=30.0, poll_s=0.1),
    )
    target = AliyunTarget(load_profile("kylin-v10-arm64"), options=options)
    try:
        target.provision()
        print("provisioned", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    finally:
        target.release()
        print("released", flush=True)
    """
)


def run_driver(
    emu: EmulatorHandle,
    state_dir: Path,
    tmp_path: Path,
    *,
    ready: Callable[[], bool],
    signum: int,
) -> tuple[int, str]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy")
    }
    env |= cloud_environment(state_dir)
    child = subprocess.Popen(
        [sys.executable, str(script), emu.endpoint],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready():
            assert child.poll() is None, child.communicate()[0]
            assert time.monotonic() < deadline, "the phase was never reached"
            time.sleep(0.05)
        child.send_signal(signum)
        output, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, output


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_aliyun_interrupt_while_waiting_for_stock_releases_everything(
    aliyun_emu: EmulatorHandle, cloud_env: Path, tmp_path: Path, signum: int
) -> None:
    aliyun_emu.faults.throttle(action="DescribeAvailableResource", times=100_000)

    def waiting_for_stock() -> bool:
        pairs = aliyun_emu.state.live_resources().key_pairs
        return bool(pairs) and len(calls(aliyun_emu, "DescribeAvailableResource")) > 2

    code, output = run_driver(
        aliyun_emu, cloud_env, tmp_path, ready=waiting_for_stock, signum=signum
    )

    assert code == 130, output
    assert "released" in output
    assert calls(aliyun_emu, "RunInstances") == []
    assert len(calls(aliyun_emu, "DeleteKeyPairs")) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_aliyun_interrupt_while_booting_releases_everything(
    aliyun_emu: EmulatorHandle, cloud_env: Path, tmp_path: Path, signum: int
) -> None:
    aliyun_emu.faults.never_running()

    def booting() -> bool:
        return bool(aliyun_emu.state.live_resources().instances)

    code, output = run_driver(
        aliyun_emu, cloud_env, tmp_path, ready=booting, signum=signum
    )

    assert code == 130, output
    assert "released" in output
    assert len(calls(aliyun_emu, "DeleteInstance")) >= 1
    assert len(calls(aliyun_emu, "DeleteSecurityGroup")) >= 1


@pytest.mark.slow
def test_aliyun_sigkill_while_booting_is_cleaned_up_from_the_journal(
    aliyun_emu: EmulatorHandle,
    cloud_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    aliyun_emu.faults.never_running()

    def booting() -> bool:
        return bool(aliyun_emu.state.live_resources().instances)

    code, output = run_driver(
        aliyun_emu, cloud_env, tmp_path, ready=booting, signum=signal.SIGKILL
    )
    left = aliyun_emu.state.live_resources()
    cleanup = main(["cleanup", "--endpoint", aliyun_emu.endpoint])
    listed = capsys.readouterr().out

    assert code == -signal.SIGKILL
    assert "released" not in output
    assert len(left.instances) == 1
    assert cleanup == 0
    assert f"releasing instance {left.instances[0]}" in listed
    assert "found in journal" in listed
