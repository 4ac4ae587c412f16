"""Parse and check RunInstances parameters into one ``Launch`` record."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ecs_emulator import catalog
from ecs_emulator.actions.common import merge_tags
from ecs_emulator.actions.network_actions import find_vswitch, vpc_status
from ecs_emulator.actions.security_actions import find_group
from ecs_emulator.clock import parse_utc
from ecs_emulator.errors import (
    ApiError,
    invalid_parameter,
    missing_parameter,
    not_found,
)
from ecs_emulator.params import Params
from ecs_emulator.resources import VSwitch
from ecs_emulator.state import EmulatorState

MAX_USER_DATA_BYTES = 32 * 1024
MIN_RELEASE_DELAY = timedelta(minutes=30)
MAX_RELEASE_DELAY = timedelta(days=3 * 365)
SPOT_STRATEGIES = ("NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo")
INTERNET_CHARGE_TYPES = ("PayByTraffic", "PayByBandwidth")


@dataclass
class Launch:
    """Everything RunInstances needs once the parameters are checked."""

    region: catalog.Region
    kind: catalog.InstanceType
    image: catalog.Image
    vswitch: VSwitch
    group_ids: list[str]
    key_pair_name: str = ""
    public_key: str | None = None
    user_data_b64: str | None = None
    user_data: bytes | None = None
    auto_release_time: datetime | None = None
    amount: int = 1
    bandwidth_out: int = 0
    internet_charge_type: str = "PayByTraffic"
    spot_strategy: str = "NoSpot"
    spot_price_limit: float = 0.0
    disk_category: str = "cloud_essd"
    disk_size: int = 20
    instance_name: str = ""
    host_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


def parse_launch(
    state: EmulatorState, params: Params, region: catalog.Region
) -> Launch:
    """Check every RunInstances parameter the emulator understands."""
    kind = _instance_type(params)
    image = _image(params, kind)
    vswitch = _vswitch(state, params, region)
    launch = Launch(region, kind, image, vswitch, _groups(state, params, vswitch))
    launch.key_pair_name, launch.public_key = _key_pair(state, params, region)
    launch.user_data_b64, launch.user_data = _user_data(params)
    launch.auto_release_time = parse_release_time(state, params.get("AutoReleaseTime"))
    _network_and_billing(launch, params)
    _disk_and_names(launch, params)
    merge_tags(launch.tags, params.get_tags())
    return launch


def parse_release_time(state: EmulatorState, text: str | None) -> datetime | None:
    """Check AutoReleaseTime: UTC, 30 min to 3 years ahead, seconds dropped."""
    if text is None:
        return None
    moment = parse_utc(text)
    now = state.clock.now()
    if moment is not None:
        moment = moment.replace(second=0)
    if (
        moment is None
        or not now + MIN_RELEASE_DELAY <= moment <= now + MAX_RELEASE_DELAY
    ):
        raise ApiError(
            400,
            "InvalidAutoReleaseTime.Malformed",
            "The specified parameter AutoReleaseTime is not valid.",
        )
    return moment


def _instance_type(params: Params) -> catalog.InstanceType:
    kind = catalog.find_instance_type(params.require("InstanceType"))
    if kind is None:
        raise ApiError(
            400,
            "InvalidInstanceType.ValueNotSupported",
            "The specified InstanceType beyond the permitted range.",
        )
    return kind


def _image(params: Params, kind: catalog.InstanceType) -> catalog.Image:
    image_id, family = params.get("ImageId"), params.get("ImageFamily")
    if image_id and family:
        raise ApiError(
            400,
            "UnexpectedImageFamily.ImageIdSupplied",
            "The input parameter ImageFamily must be null when image id is set.",
        )
    if family:
        image = catalog.latest_in_family(family)
        if image is None:
            raise ApiError(
                403,
                "InvalidImageFamily.MissingAvailableImage",
                "There is no available image related to the specified image family.",
            )
    else:
        image = catalog.find_image(image_id or "")
        if image_id is None:
            raise missing_parameter("ImageId")
        if image is None:
            raise not_found(
                "InvalidImageId.NotFound", "The specified ImageId does not exist."
            )
    if image.architecture != kind.architecture:
        raise ApiError(
            403,
            "InvalidInstanceType.NotSupported",
            "The specified instance type is not supported by the image architecture.",
        )
    return image


def _vswitch(state: EmulatorState, params: Params, region: catalog.Region) -> VSwitch:
    vswitch_id = params.get("VSwitchId")
    if vswitch_id is None:
        raise ApiError(400, "InvalidVSwitchId.Necessary", "The VSwitchId is necessary.")
    vswitch = find_vswitch(state, vswitch_id)
    if vswitch.region_id != region.region_id:
        raise not_found(
            "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist."
        )
    if params.get("ZoneId") not in (None, vswitch.zone_id):
        raise ApiError(
            400,
            "InvalidParameter",
            "The specified ZoneId is not the zone of the specified VSwitch.",
        )
    if vpc_status(state, vswitch.available_at) != "Available":
        raise ApiError(
            400,
            "IncorrectVSwitchStatus",
            "The current status of virtual switch does not support this operation.",
        )
    return vswitch


def _groups(state: EmulatorState, params: Params, vswitch: VSwitch) -> list[str]:
    single, many = params.get("SecurityGroupId"), params.get_list("SecurityGroupIds")
    if single and many:
        raise ApiError(
            400,
            "InvalidSecurityGroupId.SingleIdAndMultiIdConflict",
            "SecurityGroupId and SecurityGroupIds.N are exclusive.",
        )
    ids = [single] if single else many
    if not ids:
        raise missing_parameter("SecurityGroupId")
    for group_id in ids:
        if find_group(state, group_id).vpc_id != vswitch.vpc_id:
            raise ApiError(
                400,
                "InvalidParameter.Mismatch",
                "Specified security group and virtual switch are not in the same VPC.",
            )
    return ids


def _key_pair(
    state: EmulatorState, params: Params, region: catalog.Region
) -> tuple[str, str | None]:
    name = params.get("KeyPairName")
    if name is None:
        return "", None
    pair = state.key_pairs.get((region.region_id, name))
    if pair is None:
        raise not_found(
            "InvalidKeyPairName.NotFound",
            "The specified parameter KeyPairName does not exist in our records.",
        )
    return name, pair.public_key


def _user_data(params: Params) -> tuple[str | None, bytes | None]:
    encoded = params.get("UserData")
    if encoded is None:
        return None, None
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400,
            "InvalidUserData.Base64FormatInvalid",
            "The specified UserData is not valid.",
        ) from None
    if len(decoded) > MAX_USER_DATA_BYTES:
        raise ApiError(
            400,
            "InvalidUserData.SizeExceeded",
            'The specified parameter "UserData" exceeds the size.',
        )
    return encoded, decoded


def _network_and_billing(launch: Launch, params: Params) -> None:
    if params.get("InstanceChargeType", "PostPaid") != "PostPaid":
        raise ApiError(
            400,
            "InvalidInstanceChargeType.NotSupport",
            "The emulator only sells PostPaid instances.",
        )
    try:
        launch.bandwidth_out = params.get_int("InternetMaxBandwidthOut", 0, 0, 100)
    except ApiError:
        raise invalid_parameter(
            "InternetMaxBandwidthOut", "InvalidInternetMaxBandwidthOut.Malformed"
        ) from None
    launch.internet_charge_type = params.get("InternetChargeType", "PayByTraffic") or ""
    if launch.internet_charge_type not in INTERNET_CHARGE_TYPES:
        raise invalid_parameter(
            "InternetChargeType", "InvalidInternetChargeType.ValueNotSupported"
        )
    launch.spot_strategy = params.get("SpotStrategy", "NoSpot") or "NoSpot"
    if launch.spot_strategy not in SPOT_STRATEGIES:
        raise ApiError(
            400, "InvalidSpotStrategy", "The specified SpotStrategy is not valid."
        )
    _check_spot_limit(launch, params)
    launch.amount = params.get_int("Amount", 1, 1, 100)


def _check_spot_limit(launch: Launch, params: Params) -> None:
    limit = params.get_float("SpotPriceLimit")
    if launch.spot_strategy != "SpotWithPriceLimit":
        return
    if limit is None:
        raise missing_parameter("SpotPriceLimit")
    spot_price = launch.kind.price_per_hour * catalog.SPOT_DISCOUNT
    if limit < spot_price:
        raise ApiError(
            400,
            "InvalidSpotPriceLimit.LowerThanPublicPrice",
            'The specified parameter "spotPriceLimit" can\'t be lower than '
            "current public price.",
        )
    launch.spot_price_limit = limit


def _disk_and_names(launch: Launch, params: Params) -> None:
    launch.disk_category = params.get("SystemDisk.Category", "cloud_essd") or ""
    if launch.disk_category not in catalog.SYSTEM_DISK_CATEGORIES:
        raise invalid_parameter(
            "SystemDisk.Category", "InvalidSystemDiskCategory.ValueNotSupported"
        )
    try:
        launch.disk_size = params.get_int("SystemDisk.Size", 20, 20, 2048)
    except ApiError:
        raise invalid_parameter(
            "SystemDisk.Size", "InvalidSystemDiskSize.ValueNotSupported"
        ) from None
    launch.instance_name = params.get("InstanceName", "") or ""
    if launch.instance_name and not 2 <= len(launch.instance_name) <= 128:
        raise invalid_parameter("InstanceName", "InvalidInstanceName.Malformed")
    launch.host_name = params.get("HostName", "") or ""
    launch.description = params.get("Description", "") or ""


def allocate_private_ip(vswitch: VSwitch) -> str:
    """Return the next free private address of a vSwitch."""
    network = ipaddress.ip_network(vswitch.cidr_block)
    address = network[vswitch.next_host]
    vswitch.next_host += 1
    return str(address)
