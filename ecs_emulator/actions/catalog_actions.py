"""Read-only catalog actions: regions, zones, stock, images, prices."""

from __future__ import annotations

from ecs_emulator import catalog
from ecs_emulator.actions.common import Body, page, region_of
from ecs_emulator.clock import format_seconds
from ecs_emulator.errors import ApiError, invalid_parameter
from ecs_emulator.params import Params
from ecs_emulator.state import EmulatorState

ZONE_RESOURCE_TYPES = ["VSwitch", "IoOptimized", "Instance", "Disk"]
PRICE_UNIT_HOURS = {"Hour": 1, "Week": 168, "Month": 720, "Year": 8760}
SPOT_STRATEGIES = ("NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo")


def describe_regions(state: EmulatorState, params: Params) -> Body:
    """DescribeRegions: every region the emulator knows."""
    regions = [
        {
            "RegionId": r.region_id,
            "LocalName": r.local_name,
            "RegionEndpoint": f"ecs.{r.region_id}.aliyuncs.com",
            "Status": "available",
        }
        for r in catalog.REGIONS
    ]
    return {"Regions": {"Region": regions}}


def describe_zones(state: EmulatorState, params: Params) -> Body:
    """DescribeZones: the zones of a region with the types each offers."""
    region = region_of(params)
    types = [t.name for t in catalog.INSTANCE_TYPES]
    zones = [
        {
            "ZoneId": zone_id,
            "LocalName": f"{region.local_name} 可用区{zone_id[-1].upper()}",
            "ZoneType": "AvailabilityZone",
            "AvailableResourceCreation": {"ResourceTypes": list(ZONE_RESOURCE_TYPES)},
            "AvailableInstanceTypes": {"InstanceTypes": list(types)},
            "AvailableDiskCategories": {
                "DiskCategories": list(catalog.SYSTEM_DISK_CATEGORIES)
            },
            "AvailableVolumeCategories": {"VolumeCategories": []},
        }
        for zone_id in region.zone_ids
    ]
    return {"Zones": {"Zone": zones}}


def describe_available_resource(state: EmulatorState, params: Params) -> Body:
    """DescribeAvailableResource: stock per zone for types, zones or disks."""
    region = region_of(params)
    destination = params.require("DestinationResource")
    zone_filter = params.get("ZoneId")
    zones = [z for z in region.zone_ids if zone_filter in (None, z)]
    found = []
    for zone_id in zones:
        resources = _supported_resources(state, params, destination, zone_id)
        if not resources:
            continue
        available = any(r["Status"] == "Available" for r in resources)
        category = "WithStock" if available else resources[0]["StatusCategory"]
        found.append(
            {
                "RegionId": region.region_id,
                "ZoneId": zone_id,
                "Status": "Available" if available else "SoldOut",
                "StatusCategory": category,
                "AvailableResources": {
                    "AvailableResource": [
                        {
                            "Type": destination,
                            "SupportedResources": {"SupportedResource": resources},
                        }
                    ]
                },
            }
        )
    return {"AvailableZones": {"AvailableZone": found}}


def _supported_resources(
    state: EmulatorState, params: Params, destination: str, zone_id: str
) -> list[Body]:
    """List the SupportedResource entries of one zone."""
    if destination == "SystemDisk":
        return [
            {
                "Value": c,
                "Status": "Available",
                "StatusCategory": "WithStock",
                "Min": 20,
                "Max": 2048,
                "Unit": "GiB",
            }
            for c in catalog.SYSTEM_DISK_CATEGORIES
        ]
    if destination == "Zone":
        return [_stock_entry(state, zone_id, None, zone_id)]
    if destination != "InstanceType":
        raise invalid_parameter("DestinationResource")
    wanted = params.get("InstanceType")
    return [
        _stock_entry(state, zone_id, t.name, t.name)
        for t in catalog.INSTANCE_TYPES
        if wanted in (None, t.name)
    ]


def _stock_entry(
    state: EmulatorState, zone_id: str, instance_type: str | None, value: str
) -> Body:
    category = state.faults.stock_status(zone_id, instance_type) or "WithStock"
    status = "Available" if category == "WithStock" else "SoldOut"
    return {"Value": value, "Status": status, "StatusCategory": category}


def describe_images(state: EmulatorState, params: Params) -> Body:
    """DescribeImages: the public images, filtered and newest first."""
    region = region_of(params)
    images = sorted(
        (i for i in catalog.IMAGES if _image_matches(i, params)),
        key=lambda i: i.creation_time,
        reverse=True,
    )
    selected, paging = page(images, params)
    body: Body = {"Images": {"Image": [_image_body(i) for i in selected]}}
    return {**body, **paging, "RegionId": region.region_id}


def _image_matches(image: catalog.Image, params: Params) -> bool:
    ids = params.get("ImageId")
    if ids is not None and image.image_id not in ids.split(","):
        return False
    if params.get("ImageOwnerAlias", "system") not in ("system", "system,"):
        return False
    if params.get("Status", "Available") not in ("Available", "Available,"):
        return False
    kind = catalog.find_instance_type(params.get("InstanceType") or "")
    checks = (
        params.get("ImageFamily") in (None, image.family),
        params.get("ImageName") in (None, image.name),
        params.get("Architecture") in (None, image.architecture),
        (params.get("OSType") or "linux").lower() == "linux",
        kind is None or kind.architecture == image.architecture,
    )
    return all(checks)


def _image_body(image: catalog.Image) -> Body:
    return {
        "ImageId": image.image_id,
        "ImageName": image.name,
        "ImageFamily": image.family,
        "ImageVersion": image.creation_time.strftime("%Y%m%d"),
        "ImageOwnerAlias": "system",
        "Architecture": image.architecture,
        "OSName": image.os_name,
        "OSNameEn": image.os_name_en,
        "OSType": "linux",
        "Platform": image.platform,
        "CreationTime": format_seconds(image.creation_time),
        "Status": "Available",
        "Progress": "100%",
        "Size": 20,
        "Usage": "instance",
        "IsPublic": True,
        "IsSupportCloudinit": True,
        "IsSupportIoOptimized": True,
        "IsSubscribed": False,
        "IsCopied": False,
        "BootMode": "UEFI",
        "Description": "",
        "DiskDeviceMappings": {
            "DiskDeviceMapping": [
                {"Device": "/dev/xvda", "Size": "20", "Type": "system", "Format": ""}
            ]
        },
        "Tags": {"Tag": []},
    }


def describe_price(state: EmulatorState, params: Params) -> Body:
    """DescribePrice: the price of an instance with its disk and bandwidth."""
    region_of(params)
    if params.get("ResourceType", "instance") != "instance":
        raise invalid_parameter("ResourceType")
    kind = catalog.find_instance_type(params.require("InstanceType"))
    if kind is None:
        raise _type_not_supported()
    spot = params.get("SpotStrategy", "NoSpot") != "NoSpot"
    unit = params.get("PriceUnit", "Hour")
    if unit not in PRICE_UNIT_HOURS:
        raise invalid_parameter("PriceUnit")
    hours = PRICE_UNIT_HOURS[unit] * params.get_int("Period", 1, 1)
    amount = params.get_int("Amount", 1, 1, 1000)
    details = _price_details(kind, params, spot)
    total = round(sum(d["TradePrice"] for d in details) * hours * amount, 4)
    for detail in details:
        for key in ("OriginalPrice", "DiscountPrice", "TradePrice"):
            detail[key] = round(detail[key] * hours * amount, 4)
    price = {
        "Currency": "CNY",
        "OriginalPrice": total,
        "DiscountPrice": 0.0,
        "TradePrice": total,
        "DetailInfos": {"DetailInfo": details},
    }
    return {"PriceInfo": {"Price": price, "Rules": {"Rule": []}}}


def _price_details(
    kind: catalog.InstanceType, params: Params, spot: bool
) -> list[Body]:
    """Return the per-resource hourly prices (instance, disk, bandwidth)."""
    disk_gib = params.get_int("SystemDisk.Size", 20, 20, 2048)
    bandwidth = params.get_int("InternetMaxBandwidthOut", 0, 0, 100)
    if params.get("InternetChargeType", "PayByTraffic") != "PayByBandwidth":
        bandwidth = 0  # traffic is billed per GB, not per hour
    parts = {
        "instanceType": catalog.hourly_price(
            kind, spot=spot, disk_gib=0, bandwidth_mbps=0
        ),
        "systemDisk": round(disk_gib * catalog.SYSTEM_DISK_PRICE_PER_GIB_HOUR, 4),
        "bandwidth": round(bandwidth * catalog.BANDWIDTH_PRICE_PER_MBPS_HOUR, 4),
    }
    return [
        {"Resource": name, "OriginalPrice": p, "DiscountPrice": 0.0, "TradePrice": p}
        for name, p in parts.items()
    ]


def _type_not_supported() -> ApiError:
    return ApiError(
        400,
        "InvalidInstanceType.ValueNotSupported",
        "The specified InstanceType beyond the permitted range.",
    )
