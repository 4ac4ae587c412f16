"""Shared helpers for the emulator tests: fast emulators and SDK shortcuts."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_ecs20140526.client import Client
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ecs_emulator import Delays, EmulatorHandle, HostFactory, start_emulator

from support.ecs import ECS_TEST_AK, ECS_TEST_REGION, ECS_TEST_SECRET, make_ecs_client

REGION = ECS_TEST_REGION
ZONE = "cn-hangzhou-h"
ARM_TYPE = "ecs.c8y.large"
ALINUX_ARM = "aliyun_3_arm64_20G_alibase_20240819.vhd"
FAST = Delays(pending_s=0.05, starting_s=0.05, stopping_s=0.05)


@contextmanager
def fast_emulator(
    host_factory: HostFactory | None = None, **options: Any
) -> Iterator[tuple[EmulatorHandle, Client]]:
    """Start an emulator with short delays and yield it with a client."""
    options.setdefault("delays", FAST)
    emulator = start_emulator(
        access_keys={ECS_TEST_AK: ECS_TEST_SECRET}, host_factory=host_factory, **options
    )
    try:
        yield emulator, make_ecs_client(emulator)
    finally:
        emulator.stop()


def default_vswitch(client: Client, zone: str = ZONE) -> Any:
    """Return the default vSwitch of a zone (typed SDK model)."""
    request = ecs.DescribeVSwitchesRequest(region_id=REGION, zone_id=zone)
    return client.describe_vswitches(request).body.v_switches.v_switch[0]


def create_group(client: Client, vpc_id: str, run_id: str = "r1") -> str:
    """Create a tagged security group in a VPC; return its id."""
    tag = ecs.CreateSecurityGroupRequestTag(key="siteproof:run", value=run_id)
    request = ecs.CreateSecurityGroupRequest(region_id=REGION, vpc_id=vpc_id, tag=[tag])
    return client.create_security_group(request).body.security_group_id


def run_request(client: Client, **overrides: Any) -> ecs.RunInstancesRequest:
    """Return a RunInstances request with a working network and defaults."""
    if "v_switch_id" not in overrides or "security_group_id" not in overrides:
        vswitch = default_vswitch(client, overrides.pop("zone", ZONE))
        overrides.setdefault("v_switch_id", vswitch.v_switch_id)
        overrides.setdefault("security_group_id", create_group(client, vswitch.vpc_id))
    fields: dict[str, Any] = {
        "region_id": REGION,
        "instance_type": ARM_TYPE,
        "image_id": ALINUX_ARM,
        "internet_max_bandwidth_out": 5,
        **overrides,
    }
    return ecs.RunInstancesRequest(**fields)


def run_one(client: Client, **overrides: Any) -> str:
    """Run one instance; return its id."""
    response = client.run_instances(run_request(client, **overrides))
    return response.body.instance_id_sets.instance_id_set[0]


def describe(client: Client, instance_id: str) -> Any | None:
    """Return one instance as DescribeInstances shows it, or None."""
    request = ecs.DescribeInstancesRequest(
        region_id=REGION, instance_ids=f'["{instance_id}"]'
    )
    found = client.describe_instances(request).body.instances.instance
    return found[0] if found else None


def wait_for_status(
    client: Client, instance_id: str, status: str, timeout_s: float = 5.0
) -> list[str]:
    """Poll until the instance has ``status``; return the statuses seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        instance = describe(client, instance_id)
        current = instance.status if instance else "<gone>"
        if not seen or seen[-1] != current:
            seen.append(current)
        if current == status:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"{instance_id} never reached {status}; saw {seen}")


def release_time(minutes: float) -> str:
    """Return an AutoReleaseTime ``minutes`` from now (real clock)."""
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def b64(data: bytes) -> str:
    """Return base64 text as UserData wants it."""
    return base64.b64encode(data).decode("ascii")


def new_ed25519() -> tuple[str, str]:
    """Return a fresh (OpenSSH private key, public key line) pair."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode("ascii")
