"""A full rent -> SSH -> release cycle where the instance is a real test host.

The emulator hands each Running instance to a factory that builds a network
namespace with sshd and dockerd, installs our imported public key and the
host key from our user data, and leaves the first-boot script's markers in
the ``markers=`` folder the script names (the script itself is not run:
test hosts share this machine's file system, so each test gets its own).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from ecs_emulator import EmulatorHandle

from siteproof.errors import ProvisionError
from siteproof.site import load_profile
from support.aliyun_cloud import FAST, calls, make_target

pytestmark = [pytest.mark.ssh, pytest.mark.slow]


def test_aliyun_rent_ssh_and_release(
    aliyun_emu_hosts: EmulatorHandle, tmp_path: Path
) -> None:
    target = make_target(aliyun_emu_hosts, marker_dir=str(tmp_path / "markers"))
    try:
        session = target.open()
        machine = session.run("uname -m")
        docker = session.run("docker info --format '{{.ServerVersion}}'")
    finally:
        target.release()

    assert machine.exit_status == 0
    assert machine.stdout.strip()
    assert docker.exit_status == 0
    assert target.host.address == target.facts.public_ip
    assert target.facts.egress_cut  # kylin-v10-arm64 is an offline site
    (egress,) = calls(aliyun_emu_hosts, "AuthorizeSecurityGroupEgress")
    assert egress["Permissions.1.Policy"] == "drop"
    assert egress["Permissions.1.DestCidrIp"] == "0.0.0.0/0"


def test_aliyun_failed_first_boot_script_is_reported(
    aliyun_emu_hosts: EmulatorHandle, tmp_path: Path
) -> None:
    aliyun_emu_hosts.faults.user_data_fails()
    target = make_target(
        aliyun_emu_hosts,
        load_profile("generic-arm64"),
        marker_dir=str(tmp_path / "markers"),
    )
    with pytest.raises(ProvisionError, match="first-boot script failed") as info:
        target.open()
    target.release()

    assert target.facts.instance_id in info.value.message
    assert calls(aliyun_emu_hosts, "AuthorizeSecurityGroupEgress") == []


def test_aliyun_first_boot_script_that_hangs_times_out(
    aliyun_emu_hosts: EmulatorHandle, tmp_path: Path
) -> None:
    aliyun_emu_hosts.faults.user_data_hangs()
    deadlines = replace(FAST.deadlines, user_data_s=1.0)
    target = make_target(
        aliyun_emu_hosts, marker_dir=str(tmp_path / "markers"), deadlines=deadlines
    )
    with pytest.raises(ProvisionError, match="did not finish within"):
        target.open()
    target.release()

    assert not target.facts.egress_cut


def test_aliyun_ssh_that_never_opens_times_out_with_the_address(
    aliyun_emu_hosts: EmulatorHandle, tmp_path: Path
) -> None:
    aliyun_emu_hosts.faults.ssh_never_opens()
    deadlines = replace(FAST.deadlines, ssh_s=1.0)
    target = make_target(
        aliyun_emu_hosts,
        marker_dir=str(tmp_path / "markers"),
        deadlines=deadlines,
        ssh_connect_timeout_s=0.5,
    )
    with pytest.raises(ProvisionError, match="accepted no SSH") as info:
        target.open()
    target.release()

    assert target.facts.public_ip in info.value.message
    assert "ssh_from" in (info.value.hint or "")
