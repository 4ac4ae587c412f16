"""Emulated instances that become real test hosts (netns + sshd + dockerd)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from alibabacloud_ecs20140526 import models as ecs
from ecs_emulator import render_host_key_script
from ecs_emulator.hosts import UNANSWERED_ADDRESSES
from emulator_helpers import (
    REGION,
    b64,
    describe,
    new_ed25519,
    run_one,
    wait_for_status,
)

from support.ecs import make_ecs_client

pytestmark = [
    pytest.mark.ssh,
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.usefixtures("ecs_no_proxy"),
]
BOOT_TIMEOUT_S = 90.0


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def _ssh(address: str, key: Path, known_hosts: Path, command: str) -> str:
    """Run a command over real OpenSSH with strict host key checking."""
    result = subprocess.run(
        ["ssh", "-i", str(key), "-o", f"UserKnownHostsFile={known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
         "-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes",
         f"root@{address}", command],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_instance_becomes_a_test_host_with_the_known_host_key(
    ecs_emulator_with_hosts, tmp_path
) -> None:
    emulator = ecs_emulator_with_hosts
    client = make_ecs_client(emulator)
    client_private, client_public = new_ed25519()
    host_private, host_public = new_ed25519()
    client.import_key_pair(
        ecs.ImportKeyPairRequest(
            region_id=REGION, key_pair_name="sp-login", public_key_body=client_public
        )
    )
    markers = tmp_path / "markers"
    script = render_host_key_script(host_private, f"markers={markers}\n").encode()
    instance_id = run_one(client, key_pair_name="sp-login", user_data=b64(script))
    wait_for_status(client, instance_id, "Running", timeout_s=BOOT_TIMEOUT_S)
    address = describe(client, instance_id).public_ip_address.ip_address[0]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{address} {host_public}\n")
    key = _write_private(tmp_path / "id_ed25519", client_private)

    version = _ssh(
        address, key, known_hosts, "docker info --format '{{.ServerVersion}}'"
    )

    assert version.strip()
    assert (markers / "user-data.done").exists()
    assert not (markers / "user-data.failed").exists()
    client.delete_instance(
        ecs.DeleteInstanceRequest(instance_id=instance_id, force=True)
    )
    assert emulator.state.wait_until_gone(timeout_s=60)
    assert emulator.host_factory.live_hosts() == []
    assert not (markers / "user-data.done").exists()
    listing = subprocess.run(
        ["ip", "netns", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    namespaces = {line.split()[0] for line in listing.splitlines() if line.strip()}
    assert f"sp-{address.rsplit('.', 1)[1]}" not in namespaces


def test_ssh_never_opens_gives_an_unanswered_address(ecs_emulator_with_hosts) -> None:
    emulator = ecs_emulator_with_hosts
    client = make_ecs_client(emulator)
    emulator.faults.ssh_never_opens()
    instance_id = run_one(client)
    wait_for_status(client, instance_id, "Running", timeout_s=BOOT_TIMEOUT_S)
    address = describe(client, instance_id).public_ip_address.ip_address[0]
    assert address in UNANSWERED_ADDRESSES
    assert emulator.host_factory.live_hosts() == []
