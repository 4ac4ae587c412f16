"""VPC and vSwitch actions (the legacy ECS 2014-05-26 ones)."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from ecs_emulator import catalog
from ecs_emulator.actions.common import Body, page, region_of
from ecs_emulator.clock import format_seconds
from ecs_emulator.errors import ApiError, not_found
from ecs_emulator.params import Params
from ecs_emulator.resources import Vpc, VSwitch
from ecs_emulator.state import EmulatorState

DEFAULT_VPC_CIDR = "172.16.0.0/12"
PRIVATE_RANGES = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def seed_default_network(
    state: EmulatorState, *, default_vpc: bool, vswitch_zones: set[str] | None
) -> None:
    """Create the account's default VPC and vSwitches (not run resources).

    Args:
        state: The emulator state to fill.
        default_vpc: Whether each region has a default VPC.
        vswitch_zones: Zones with a default vSwitch; None means every zone.
    """
    if not default_vpc:
        return
    for region in catalog.REGIONS:
        vpc_id = _seed_vpc(state, region)
        for index, zone_id in enumerate(region.zone_ids):
            if vswitch_zones is None or zone_id in vswitch_zones:
                _seed_vswitch(state, vpc_id, zone_id, f"172.16.{index * 16}.0/20")


def _seed_vpc(state: EmulatorState, region: catalog.Region) -> str:
    now = state.clock.now()
    vpc = Vpc(
        vpc_id=state.new_id("vpc", region.region_id),
        region_id=region.region_id,
        cidr_block=DEFAULT_VPC_CIDR,
        name="",
        description="",
        is_default=True,
        created_at=now,
        available_at=now,
        preexisting=True,
        vrouter_id=state.new_id("vrt", region.region_id),
    )
    state.vpcs[vpc.vpc_id] = vpc
    return vpc.vpc_id


def _seed_vswitch(state: EmulatorState, vpc_id: str, zone_id: str, cidr: str) -> None:
    now = state.clock.now()
    region_id = state.vpcs[vpc_id].region_id
    vswitch = VSwitch(
        vswitch_id=state.new_id("vsw", region_id),
        vpc_id=vpc_id,
        region_id=region_id,
        zone_id=zone_id,
        cidr_block=cidr,
        name="",
        description="",
        is_default=True,
        created_at=now,
        available_at=now,
        preexisting=True,
    )
    state.vswitches[vswitch.vswitch_id] = vswitch


def vpc_status(state: EmulatorState, available_at: datetime) -> str:
    """Return Pending until ``available_at`` on the emulator clock."""
    return "Available" if state.clock.now() >= available_at else "Pending"


def create_vpc(state: EmulatorState, params: Params) -> Body:
    """CreateVpc: a VPC that becomes Available after ``delays.vpc_s``."""
    region = region_of(params)
    cidr = _private_cidr(params.get("CidrBlock", DEFAULT_VPC_CIDR) or "")
    now = state.clock.now()
    vpc = Vpc(
        state.new_id("vpc", region.region_id),
        region.region_id,
        str(cidr),
        params.get("VpcName", "") or "",
        params.get("Description", "") or "",
        False,
        now,
        now + timedelta(seconds=state.delays.vpc_s),
        vrouter_id=state.new_id("vrt", region.region_id),
    )
    state.vpcs[vpc.vpc_id] = vpc
    return {
        "VpcId": vpc.vpc_id,
        "VRouterId": vpc.vrouter_id,
        "RouteTableId": state.new_id("vtb", region.region_id),
    }


def describe_vpcs(state: EmulatorState, params: Params) -> Body:
    """DescribeVpcs: filter by VpcId (comma list) and IsDefault."""
    region = region_of(params)
    ids = (params.get("VpcId") or "").split(",") if params.get("VpcId") else None
    is_default = params.get("IsDefault")
    vpcs = [
        v
        for v in state.vpcs.values()
        if v.region_id == region.region_id
        and (ids is None or v.vpc_id in ids)
        and (is_default is None or str(v.is_default).lower() == is_default.lower())
    ]
    selected, paging = page(vpcs, params, max_size=50)
    return {"Vpcs": {"Vpc": [_vpc_body(state, v) for v in selected]}, **paging}


def _vpc_body(state: EmulatorState, vpc: Vpc) -> Body:
    vswitch_ids = [
        s.vswitch_id for s in state.vswitches.values() if s.vpc_id == vpc.vpc_id
    ]
    return {
        "VpcId": vpc.vpc_id,
        "RegionId": vpc.region_id,
        "Status": vpc_status(state, vpc.available_at),
        "VpcName": vpc.name,
        "CidrBlock": vpc.cidr_block,
        "VRouterId": vpc.vrouter_id,
        "Description": vpc.description,
        "IsDefault": vpc.is_default,
        "CreationTime": format_seconds(vpc.created_at),
        "VSwitchIds": {"VSwitchId": vswitch_ids},
        "UserCidrs": {"UserCidr": []},
    }


def delete_vpc(state: EmulatorState, params: Params) -> Body:
    """DeleteVpc: refused while vSwitches or security groups remain in it."""
    vpc = _find_vpc(state, params.require("VpcId"))
    if any(s.vpc_id == vpc.vpc_id for s in state.vswitches.values()):
        raise ApiError(
            403, "DependencyViolation.VSwitch", "Specified VPC still has vSwitch(es)."
        )
    if any(g.vpc_id == vpc.vpc_id for g in state.security_groups.values()):
        raise ApiError(
            403,
            "DependencyViolation.SecurityGroup",
            "Specified VPC still has security group(s).",
        )
    del state.vpcs[vpc.vpc_id]
    return {}


def create_vswitch(state: EmulatorState, params: Params) -> Body:
    """CreateVSwitch: a vSwitch in one zone, inside the VPC's CIDR block."""
    region = region_of(params)
    vpc = _find_vpc(state, params.require("VpcId"))
    zone_id = params.require("ZoneId")
    if zone_id not in region.zone_ids:
        raise not_found(
            "InvalidZoneId.NotFound",
            "The ZoneId provided does not exist in our records.",
        )
    if vpc_status(state, vpc.available_at) != "Available":
        raise ApiError(
            400,
            "IncorrectVpcStatus",
            "Current VPC status does not support this operation.",
        )
    cidr = _private_cidr(params.require("CidrBlock"))
    if not cidr.subnet_of(ipaddress.ip_network(vpc.cidr_block)):  # type: ignore[arg-type]
        raise _bad_cidr()
    now = state.clock.now()
    vswitch = VSwitch(
        state.new_id("vsw", region.region_id),
        vpc.vpc_id,
        region.region_id,
        zone_id,
        str(cidr),
        params.get("VSwitchName", "") or "",
        params.get("Description", "") or "",
        False,
        now,
        now + timedelta(seconds=state.delays.vpc_s),
    )
    state.vswitches[vswitch.vswitch_id] = vswitch
    return {"VSwitchId": vswitch.vswitch_id}


def describe_vswitches(state: EmulatorState, params: Params) -> Body:
    """DescribeVSwitches: filter by VpcId, VSwitchId, ZoneId and IsDefault."""
    region = region_of(params)
    is_default = params.get("IsDefault")
    found = [
        s
        for s in state.vswitches.values()
        if s.region_id == region.region_id
        and params.get("VpcId") in (None, s.vpc_id)
        and params.get("VSwitchId") in (None, s.vswitch_id)
        and params.get("ZoneId") in (None, s.zone_id)
        and (is_default is None or str(s.is_default).lower() == is_default.lower())
    ]
    selected, paging = page(found, params, max_size=50)
    return {
        "VSwitches": {"VSwitch": [_vswitch_body(state, s) for s in selected]},
        **paging,
    }


def _vswitch_body(state: EmulatorState, vswitch: VSwitch) -> Body:
    size = ipaddress.ip_network(vswitch.cidr_block).num_addresses
    return {
        "VSwitchId": vswitch.vswitch_id,
        "VpcId": vswitch.vpc_id,
        "Status": vpc_status(state, vswitch.available_at),
        "CidrBlock": vswitch.cidr_block,
        "ZoneId": vswitch.zone_id,
        "AvailableIpAddressCount": max(0, size - vswitch.next_host),
        "Description": vswitch.description,
        "VSwitchName": vswitch.name,
        "CreationTime": format_seconds(vswitch.created_at),
        "IsDefault": vswitch.is_default,
        "ResourceGroupId": "",
    }


def delete_vswitch(state: EmulatorState, params: Params) -> Body:
    """DeleteVSwitch: refused while instances use it."""
    vswitch = find_vswitch(state, params.require("VSwitchId"))
    if any(i.vswitch_id == vswitch.vswitch_id for i in state.instances.values()):
        raise ApiError(
            403, "DependencyViolation", "Specified vSwitch still has instance(s) in it."
        )
    del state.vswitches[vswitch.vswitch_id]
    return {}


def find_vswitch(state: EmulatorState, vswitch_id: str) -> VSwitch:
    """Return a vSwitch or raise 404 InvalidVSwitchId.NotFound."""
    vswitch = state.vswitches.get(vswitch_id)
    if vswitch is None:
        raise not_found(
            "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist."
        )
    return vswitch


def _find_vpc(state: EmulatorState, vpc_id: str) -> Vpc:
    vpc = state.vpcs.get(vpc_id)
    if vpc is None:
        raise not_found("InvalidVpcId.NotFound", "Specified VPC does not exist.")
    return vpc


def _private_cidr(text: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError:
        raise _bad_cidr() from None
    if not any(network.subnet_of(r) for r in PRIVATE_RANGES):  # type: ignore[arg-type]
        raise _bad_cidr()
    return network


def _bad_cidr() -> ApiError:
    return ApiError(
        400, "InvalidCidrBlock.Malformed", "Specified CIDR block is not valid."
    )
