"""Wait for a bought instance: Running, a public IP, SSH, the first boot.

Each wait has its own deadline and ends with a message that names the
instance and what it was last seen doing. The SSH wait connects only with
the host key we generated and installed through the user data; a server
showing any other key is refused like one that does not answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siteproof.errors import ConnectError, ProvisionError
from siteproof.remote.base import Session
from siteproof.targets.aliyun.api import EcsApi
from siteproof.targets.aliyun.release import instances_of
from siteproof.targets.aliyun.userdata import marker_probe
from siteproof.targets.aliyun.waits import Waiter

log = logging.getLogger(__name__)

SSH_USER = "root"

# open_session(host, *, port, user, identity, known_hosts, ...) -> Session
SessionOpener = Callable[..., Session]


@dataclass(frozen=True, slots=True)
class Login:
    """How to log in to the instance: our key and the host key we expect."""

    identity: Path
    known_hosts: Path
    connect_timeout_s: float


def wait_until_running(
    api: EcsApi, waiter: Waiter, instance_id: str, *, deadline_s: float, where: str
) -> None:
    """Wait until the instance reports ``Running``.

    Raises:
        ProvisionError: when the deadline passes, naming the last status.
    """
    seen = {"status": "Pending"}

    def running() -> bool | None:
        seen["status"] = str(describe_instance(api, instance_id).get("Status", "?"))
        return True if seen["status"] == "Running" else None

    def too_slow(elapsed: float) -> ProvisionError:
        return ProvisionError(
            f"instance {instance_id} ({where}) did not reach Running within "
            f"{elapsed:.0f} s (last status {seen['status']})",
            hint="the zone may be short of capacity; try again or another region",
        )

    waiter.until(
        f"waiting for {instance_id} to run",
        running,
        deadline_s=deadline_s,
        failure=too_slow,
    )


def wait_for_public_ip(
    api: EcsApi, waiter: Waiter, instance_id: str, *, deadline_s: float
) -> str:
    """Return the instance's public IP once it has one.

    Raises:
        ProvisionError: when none appears in time.
    """
    return waiter.until(
        f"waiting for the public IP of {instance_id}",
        lambda: public_ip(describe_instance(api, instance_id)),
        deadline_s=deadline_s,
        failure=lambda elapsed: ProvisionError(
            f"instance {instance_id} got no public IP within {elapsed:.0f} s"
        ),
    )


def wait_for_ssh(
    opener: SessionOpener,
    waiter: Waiter,
    *,
    instance_id: str,
    address: str,
    login: Login,
    deadline_s: float,
) -> Session:
    """Connect over SSH, retrying until the deadline.

    Raises:
        ProvisionError: naming the address and the last connection error.
    """
    last = {"error": "no answer yet"}

    def connect() -> Session | None:
        try:
            return opener(
                address,
                port=22,
                user=SSH_USER,
                identity=login.identity,
                known_hosts=login.known_hosts,
                accept_new_host_key=False,
                connect_timeout_s=login.connect_timeout_s,
            )
        except ConnectError as exc:
            last["error"] = exc.message
            return None

    session = waiter.until(
        f"waiting for SSH on {address}",
        connect,
        deadline_s=deadline_s,
        failure=lambda elapsed: ProvisionError(
            f"instance {instance_id} accepted no SSH on {address}:22 "
            f"within {elapsed:.0f} s: {last['error']}",
            hint="check that [aliyun] ssh_from contains this machine's public address",
        ),
    )
    log.info("connected to %s@%s with the host key we installed", SSH_USER, address)
    return session


def wait_for_first_boot(
    session: Session,
    waiter: Waiter,
    *,
    instance_id: str,
    marker_dir: str,
    deadline_s: float,
) -> None:
    """Wait until the first-boot script left its ``done`` marker.

    Raises:
        ProvisionError: when it failed (with its log's last lines) or hangs.
    """
    command = marker_probe(marker_dir)

    def finished() -> bool | None:
        lines = session.run(command, timeout_s=30).stdout.strip().splitlines()
        if lines and lines[0] == "done":
            return True
        if lines and lines[0] == "failed":
            raise ProvisionError(
                f"the first-boot script failed on {instance_id}: "
                + (" | ".join(lines[1:][-5:]) or "no log"),
                hint=f"see {marker_dir}/user-data.log on the instance (use --keep)",
            )
        return None

    waiter.until(
        f"waiting for {instance_id} to install Docker",
        finished,
        deadline_s=deadline_s,
        failure=lambda elapsed: ProvisionError(
            f"the first-boot script on {instance_id} did not finish within "
            f"{elapsed:.0f} s"
        ),
    )
    log.info("instance %s is prepared", instance_id)


def describe_instance(api: EcsApi, instance_id: str) -> dict[str, Any]:
    """Return one instance as DescribeInstances shows it.

    Raises:
        ProvisionError: when the instance no longer exists.
    """
    body = api.call("DescribeInstances", {"InstanceIds": json.dumps([instance_id])})
    found = instances_of(body)
    if not found:
        raise ProvisionError(
            f"instance {instance_id} disappeared (released outside this run?)"
        )
    return found[0]


def public_ip(instance: dict[str, Any]) -> str | None:
    """Return the instance's public or elastic IP, or None while it has none."""
    wrapper = instance.get("PublicIpAddress") or {}
    addresses = wrapper.get("IpAddress", []) if isinstance(wrapper, dict) else []
    if addresses:
        return str(addresses[0])
    eip = instance.get("EipAddress") or {}
    return str(eip["IpAddress"]) if eip.get("IpAddress") else None
