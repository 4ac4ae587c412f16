"""The network a run's instance lives in: VPC, vSwitch, security group.

The account's default VPC and the zone's default vSwitch are used when they
exist; otherwise the run creates its own, named ``siteproof-<run-id>``, and
releases them at the end. Each VPC the run uses gets one security group of
its own that admits SSH from ``[aliyun] ssh_from`` and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from siteproof.errors import ProvisionError
from siteproof.targets.aliyun.api import EcsApi
from siteproof.targets.aliyun.release import RUN_TAG, Ledger

log = logging.getLogger(__name__)

RUN_VPC_CIDR = "172.16.0.0/16"
WHOLE_INTERNET = "0.0.0.0/0"


@dataclass(frozen=True, slots=True)
class Network:
    """Where an instance in one zone is attached."""

    zone_id: str
    vpc_id: str
    vswitch_id: str
    security_group_id: str
    is_default: bool


class NetworkBuilder:
    """Finds or creates the VPC, vSwitch and security group for each zone."""

    def __init__(
        self,
        api: EcsApi,
        ledger: Ledger,
        *,
        run_id: str,
        ssh_from: str,
        wait_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.run_id = run_id
        self.ssh_from = ssh_from
        self.wait_s = wait_s
        self._sleep = sleep
        self._run_vpc: str | None = None
        self._groups: dict[str, str] = {}
        self._vswitches: dict[str, str] = {}

    @property
    def name(self) -> str:
        """Return the name every resource of this run carries."""
        return f"siteproof-{self.run_id}"

    def for_zone(self, zone_id: str) -> Network:
        """Return the network to use in a zone, creating what is missing."""
        default = self._default_vswitch(zone_id)
        if default is not None:
            vpc_id, vswitch_id = default
        else:
            vpc_id = self._ensure_run_vpc()
            vswitch_id = self._ensure_run_vswitch(vpc_id, zone_id)
        return Network(
            zone_id=zone_id,
            vpc_id=vpc_id,
            vswitch_id=vswitch_id,
            security_group_id=self._ensure_group(vpc_id),
            is_default=default is not None,
        )

    def _default_vswitch(self, zone_id: str) -> tuple[str, str] | None:
        vpcs = _items(self.api.call("DescribeVpcs", {"IsDefault": True}), "Vpcs", "Vpc")
        if not vpcs:
            return None
        vpc_id = str(vpcs[0]["VpcId"])
        body = self.api.call(
            "DescribeVSwitches",
            {"VpcId": vpc_id, "ZoneId": zone_id, "IsDefault": True},
        )
        vswitches = _items(body, "VSwitches", "VSwitch")
        if not vswitches:
            return None
        return vpc_id, str(vswitches[0]["VSwitchId"])

    def _ensure_run_vpc(self) -> str:
        if self._run_vpc is None:
            body = self.api.call(
                "CreateVpc",
                {
                    "CidrBlock": RUN_VPC_CIDR,
                    "VpcName": self.name,
                    "Description": f"{RUN_TAG}={self.run_id}",
                    "ClientToken": f"{self.name}-vpc"[:64],
                },
            )
            self._run_vpc = str(body["VpcId"])
            self.ledger.add("vpc", self._run_vpc)
            log.info("created VPC %s for this run", self._run_vpc)
            self._wait_available(
                "DescribeVpcs", {"VpcId": self._run_vpc}, ("Vpcs", "Vpc")
            )
        return self._run_vpc

    def _ensure_run_vswitch(self, vpc_id: str, zone_id: str) -> str:
        if zone_id not in self._vswitches:
            index = len(self._vswitches)
            body = self.api.call(
                "CreateVSwitch",
                {
                    "VpcId": vpc_id,
                    "ZoneId": zone_id,
                    "CidrBlock": f"172.16.{index}.0/24",
                    "VSwitchName": self.name,
                    "Description": f"{RUN_TAG}={self.run_id}",
                    "ClientToken": f"{self.name}-vsw-{index}"[:64],
                },
            )
            vswitch_id = str(body["VSwitchId"])
            self._vswitches[zone_id] = vswitch_id
            self.ledger.add("vswitch", vswitch_id)
            log.info("created vSwitch %s in %s for this run", vswitch_id, zone_id)
            self._wait_available(
                "DescribeVSwitches", {"VSwitchId": vswitch_id}, ("VSwitches", "VSwitch")
            )
        return self._vswitches[zone_id]

    def _wait_available(
        self, action: str, params: dict[str, Any], shape: tuple[str, str]
    ) -> None:
        """Wait for a new VPC or vSwitch to leave ``Pending``."""
        deadline = time.monotonic() + self.wait_s
        what = " ".join(str(v) for v in params.values())
        while True:
            items = _items(self.api.call(action, params), *shape)
            if items and items[0].get("Status", "Available") == "Available":
                return
            if time.monotonic() >= deadline:
                raise ProvisionError(
                    f"{what} was not Available within {self.wait_s:.0f} s"
                )
            self._sleep(1.0)

    def _ensure_group(self, vpc_id: str) -> str:
        if vpc_id not in self._groups:
            body = self.api.call(
                "CreateSecurityGroup",
                {
                    "VpcId": vpc_id,
                    "SecurityGroupName": self.name,
                    "Description": "siteproof: SSH only, released after the run",
                    "SecurityGroupType": "normal",
                    "ClientToken": f"{self.name}-sg-{len(self._groups)}"[:64],
                    "Tag": [{"Key": RUN_TAG, "Value": self.run_id}],
                },
            )
            group_id = str(body["SecurityGroupId"])
            self.ledger.add("security_group", group_id)
            self._groups[vpc_id] = group_id
            self._allow_ssh(group_id)
            log.info("created security group %s (SSH from %s)", group_id, self.ssh_from)
        return self._groups[vpc_id]

    def _allow_ssh(self, group_id: str) -> None:
        if self.ssh_from == WHOLE_INTERNET:
            log.warning(
                "security group %s admits SSH from the whole internet; "
                "set [aliyun] ssh_from to your office's address range",
                group_id,
            )
        self.api.call(
            "AuthorizeSecurityGroup",
            {
                "SecurityGroupId": group_id,
                "Permissions": [
                    {
                        "IpProtocol": "TCP",
                        "PortRange": "22/22",
                        "SourceCidrIp": self.ssh_from,
                        "Policy": "accept",
                        "Priority": 1,
                        "Description": "siteproof SSH",
                    }
                ],
            },
        )

    def cut_egress(self, group_id: str) -> None:
        """Drop all outbound traffic; replies to inbound SSH still pass."""
        self.api.call(
            "AuthorizeSecurityGroupEgress",
            {
                "SecurityGroupId": group_id,
                "Permissions": [
                    {
                        "IpProtocol": "ALL",
                        "PortRange": "-1/-1",
                        "DestCidrIp": WHOLE_INTERNET,
                        "Policy": "drop",
                        "Priority": 1,
                        "Description": "siteproof: offline site, no internet",
                    }
                ],
            },
        )
        log.info("cut outbound internet in security group %s (offline site)", group_id)


def _items(body: dict[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
    wrapper = body.get(outer) or {}
    items = wrapper.get(inner, []) if isinstance(wrapper, dict) else []
    return [item for item in items if isinstance(item, dict)]
