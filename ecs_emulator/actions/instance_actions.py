"""Instance actions: run, describe, status, delete, auto-release, user data."""

from __future__ import annotations

from ecs_emulator import catalog
from ecs_emulator.actions.common import (
    Body,
    match_name,
    match_tags,
    page,
    region_of,
    tags_body,
    token_page,
)
from ecs_emulator.actions.launch import (
    Launch,
    allocate_private_ip,
    parse_launch,
    parse_release_time,
)
from ecs_emulator.clock import format_minutes
from ecs_emulator.errors import (
    ApiError,
    invalid_parameter,
    missing_parameter,
    not_found,
)
from ecs_emulator.params import Params
from ecs_emulator.resources import (
    PENDING,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    Instance,
)
from ecs_emulator.state import EmulatorState

DRY_RUN_MESSAGE = "Request validation has been passed with DryRun flag set."


def run_instances(state: EmulatorState, params: Params) -> Body:
    """RunInstances: create ``Amount`` instances that boot on their own."""
    region = region_of(params)
    launch = parse_launch(state, params, region)
    if params.get_bool("DryRun"):
        raise ApiError(400, "DryRunOperation", DRY_RUN_MESSAGE)
    placement = state.faults.placement_error(launch.vswitch.zone_id, launch.kind.name)
    account = placement or state.faults.take_run_error()
    if account is not None:
        raise account
    ids = [_create_instance(state, launch) for _ in range(launch.amount)]
    price = catalog.hourly_price(
        launch.kind,
        spot=launch.spot_strategy != "NoSpot",
        disk_gib=launch.disk_size,
        bandwidth_mbps=0,
    )
    return {
        "InstanceIdSets": {"InstanceIdSet": ids},
        "TradePrice": round(price * launch.amount, 4),
    }


def _create_instance(state: EmulatorState, launch: Launch) -> str:
    now = state.clock.now()
    instance_id = state.new_id("i", launch.region.region_id)
    instance = Instance(
        instance_id=instance_id,
        region_id=launch.region.region_id,
        zone_id=launch.vswitch.zone_id,
        instance_type=launch.kind.name,
        image_id=launch.image.image_id,
        vpc_id=launch.vswitch.vpc_id,
        vswitch_id=launch.vswitch.vswitch_id,
        private_ip=allocate_private_ip(launch.vswitch),
        security_group_ids=list(launch.group_ids),
        created_at=now,
        phase_since=now,
        instance_name=launch.instance_name or instance_id,
        host_name=launch.host_name or f"iZ{instance_id[2:]}Z",
        description=launch.description,
        key_pair_name=launch.key_pair_name,
        public_key=launch.public_key,
        user_data_b64=launch.user_data_b64,
        user_data=launch.user_data,
        internet_max_bandwidth_out=launch.bandwidth_out,
        internet_charge_type=launch.internet_charge_type,
        spot_strategy=launch.spot_strategy,
        spot_price_limit=launch.spot_price_limit,
        system_disk_category=launch.disk_category,
        system_disk_size=launch.disk_size,
        auto_release_time=launch.auto_release_time,
        tags=dict(launch.tags),
        never_running=state.faults.take_never_running(),
        start_sshd=not state.faults.take_ssh_never_opens(),
        user_data_outcome=state.faults.take_user_data_outcome(),
    )
    state.instances[instance_id] = instance
    return instance_id


def describe_instances(state: EmulatorState, params: Params) -> Body:
    """DescribeInstances: filters, PageNumber/PageSize or NextToken paging."""
    region = region_of(params)
    found = [
        i
        for i in state.instances.values()
        if i.region_id == region.region_id and _instance_matches(i, params)
    ]
    if params.get("NextToken") is not None or params.get("MaxResults") is not None:
        selected, paging = token_page(found, params)
    else:
        selected, paging = page(found, params)
        paging["NextToken"] = ""
    body = [instance_body(state, i) for i in selected]
    return {"Instances": {"Instance": body}, **paging}


def _instance_matches(instance: Instance, params: Params) -> bool:
    ids = params.get_json_list("InstanceIds")
    public_ips = params.get_json_list("PublicIpAddresses")
    simple = {
        "Status": instance.status,
        "ZoneId": instance.zone_id,
        "VpcId": instance.vpc_id,
        "VSwitchId": instance.vswitch_id,
        "KeyPairName": instance.key_pair_name,
        "InstanceType": instance.instance_type,
        "ImageId": instance.image_id,
        "InstanceChargeType": "PostPaid",
    }
    return (
        all(params.get(k) in (None, v) for k, v in simple.items())
        and (ids is None or instance.instance_id in ids)
        and (public_ips is None or instance.public_ip in public_ips)
        and params.get("SecurityGroupId") in (None, *instance.security_group_ids)
        and match_name(params.get("InstanceName"), instance.instance_name)
        and match_tags(instance.tags, params.get_tags())
    )


def instance_body(state: EmulatorState, instance: Instance) -> Body:
    """Return one instance as DescribeInstances shows it."""
    kind = catalog.find_instance_type(instance.instance_type)
    image = catalog.find_image(instance.image_id)
    return {
        "InstanceId": instance.instance_id,
        "InstanceName": instance.instance_name,
        "HostName": instance.host_name,
        "Description": instance.description,
        "Status": instance.status,
        "InstanceType": instance.instance_type,
        "InstanceTypeFamily": kind.family if kind else "",
        "Cpu": kind.cpu if kind else 0,
        "Memory": kind.memory_mib if kind else 0,
        "ImageId": instance.image_id,
        "OSName": image.os_name if image else "",
        "OSNameEn": image.os_name_en if image else "",
        "OSType": "linux",
        "RegionId": instance.region_id,
        "ZoneId": instance.zone_id,
        "InstanceChargeType": "PostPaid",
        "InternetChargeType": instance.internet_charge_type,
        "InternetMaxBandwidthOut": instance.internet_max_bandwidth_out,
        "InternetMaxBandwidthIn": 200,
        "SpotStrategy": instance.spot_strategy,
        "SpotPriceLimit": instance.spot_price_limit,
        "SpotDuration": 1 if instance.spot_strategy != "NoSpot" else 0,
        "KeyPairName": instance.key_pair_name,
        "InstanceNetworkType": "vpc",
        "IoOptimized": True,
        "DeletionProtection": False,
        "CreationTime": format_minutes(instance.created_at),
        "StartTime": format_minutes(instance.start_time) if instance.start_time else "",
        "ExpiredTime": "2099-12-31T15:59Z",
        "AutoReleaseTime": (
            format_minutes(instance.auto_release_time)
            if instance.auto_release_time
            else ""
        ),
        "StoppedMode": "Not-applicable",
        "PublicIpAddress": {
            "IpAddress": [instance.public_ip] if instance.public_ip else []
        },
        "InnerIpAddress": {"IpAddress": []},
        "EipAddress": {"IpAddress": "", "AllocationId": "", "InternetChargeType": ""},
        "VpcAttributes": {
            "VpcId": instance.vpc_id,
            "VSwitchId": instance.vswitch_id,
            "NatIpAddress": "",
            "PrivateIpAddress": {"IpAddress": [instance.private_ip]},
        },
        "SecurityGroupIds": {"SecurityGroupId": list(instance.security_group_ids)},
        "Tags": tags_body(instance.tags),
        "OperationLocks": {"LockReason": []},
    }


def describe_instance_status(state: EmulatorState, params: Params) -> Body:
    """DescribeInstanceStatus: id and status only, InstanceId.N filter."""
    region = region_of(params)
    ids = params.get_list("InstanceId")
    if len(ids) > 100:
        raise invalid_parameter("InstanceId")
    found = [
        i
        for i in state.instances.values()
        if i.region_id == region.region_id
        and (not ids or i.instance_id in ids)
        and params.get("ZoneId") in (None, i.zone_id)
    ]
    selected, paging = page(found, params, max_size=50)
    statuses = [{"InstanceId": i.instance_id, "Status": i.status} for i in selected]
    return {"InstanceStatuses": {"InstanceStatus": statuses}, **paging}


def delete_instance(state: EmulatorState, params: Params) -> Body:
    """DeleteInstance: release one instance (it has no RegionId)."""
    instance = _find_instance(state, params.require("InstanceId"), None)
    _check_deletable(instance, params.get_bool("Force"))
    if params.get_bool("DryRun"):
        raise ApiError(400, "DryRunOperation", DRY_RUN_MESSAGE)
    state.begin_release(instance)
    return {}


def delete_instances(state: EmulatorState, params: Params) -> Body:
    """DeleteInstances: all or nothing over InstanceId.N."""
    region = region_of(params)
    ids = params.get_list("InstanceId")
    if not ids:
        raise missing_parameter("InstanceId")
    if len(ids) > 100:
        raise invalid_parameter("InstanceId")
    instances = [_find_instance(state, i, region.region_id) for i in ids]
    force = params.get_bool("Force")
    for instance in instances:
        _check_deletable(instance, force)
    if params.get_bool("DryRun"):
        raise ApiError(400, "DryRunOperation", DRY_RUN_MESSAGE)
    for instance in instances:
        state.begin_release(instance)
    return {}


def _check_deletable(instance: Instance, force: bool) -> None:
    if instance.status == PENDING:
        raise ApiError(
            403,
            "IncorrectInstanceStatus.Initializing",
            "The specified instance is in initializing status.",
        )
    if instance.status in (STOPPING, STOPPED) or force:
        return
    if instance.status in (STARTING, RUNNING):
        raise ApiError(
            403,
            "IncorrectInstanceStatus",
            "The current status of the resource does not support this operation.",
        )


def modify_instance_auto_release_time(state: EmulatorState, params: Params) -> Body:
    """ModifyInstanceAutoReleaseTime: set, or cancel when omitted."""
    region = region_of(params)
    instance = _find_instance(state, params.require("InstanceId"), region.region_id)
    instance.auto_release_time = parse_release_time(
        state, params.get("AutoReleaseTime")
    )
    return {}


def describe_user_data(state: EmulatorState, params: Params) -> Body:
    """DescribeUserData: the base64 user data as it was sent."""
    region = region_of(params)
    instance = _find_instance(state, params.require("InstanceId"), region.region_id)
    return {
        "InstanceId": instance.instance_id,
        "RegionId": region.region_id,
        "UserData": instance.user_data_b64 or "",
    }


def _find_instance(
    state: EmulatorState, instance_id: str, region_id: str | None
) -> Instance:
    instance = state.instances.get(instance_id)
    if instance is None or region_id not in (None, instance.region_id):
        raise not_found(
            "InvalidInstanceId.NotFound", "The specified InstanceId does not exist."
        )
    return instance
