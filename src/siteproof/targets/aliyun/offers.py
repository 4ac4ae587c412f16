"""What to rent: the OS image for the site, zones with stock, the price."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from siteproof.errors import ProvisionError
from siteproof.site import SiteProfile
from siteproof.targets.aliyun.api import EcsApi

log = logging.getLogger(__name__)

ALINUX3_ARM64_FAMILY = "acs:alibaba_cloud_linux_3_2104_lts_arm64"
# Anolis OS 8 images come with two kernels; "rhck", the RHEL-compatible one
# (4.18), is built with 64 KiB pages on arm64, like Kylin V10 on Kunpeng.
ANOLIS8_NAME = "anolisos_8"
ANOLIS8_RHCK_MARK = "rhck"

SYSTEM_DISK = {"Category": "cloud_essd", "Size": 40, "PerformanceLevel": "PL0"}
BANDWIDTH_MBPS = 10


class NoOfferError(ProvisionError):
    """This instance type cannot be rented here; the next one may."""


@dataclass(frozen=True, slots=True)
class ImageChoice:
    """The OS image picked for a run and why.

    Attributes:
        page_size: the page size its kernel is expected to use, in bytes;
            the run measures the real one with ``getconf PAGESIZE``.
    """

    image_id: str
    name: str
    os_name: str
    page_size: int
    reason: str


@dataclass(frozen=True, slots=True)
class Price:
    """An hourly price as DescribePrice quoted it."""

    hourly: float
    currency: str

    def for_seconds(self, seconds: float) -> float:
        """Return the cost of this many billed seconds (billed per second)."""
        return round(self.hourly * max(seconds, 0.0) / 3600.0, 4)


def choose_image(api: EcsApi, profile: SiteProfile, instance_type: str) -> ImageChoice:
    """Return the newest system image that matches the site for this type.

    Raises:
        ProvisionError: when the region offers no such image for the type.
    """
    spec = profile.aliyun
    if spec.image_id:
        images = _describe_images(api, {"ImageId": spec.image_id})
        if not images:
            raise ProvisionError(f"image {spec.image_id} ([aliyun] image_id) not found")
        image = images[0]
        return _choice(image, profile.site.page_size, "set by [aliyun] image_id")
    if profile.site.page_size == 65536:
        return _anolis_rhck(api, instance_type)
    params = {"ImageFamily": ALINUX3_ARM64_FAMILY, "InstanceType": instance_type}
    images = _describe_images(api, params)
    if not images:
        raise NoOfferError(
            f"no Alibaba Cloud Linux 3 arm64 image for {instance_type} in {api.region}"
        )
    return _choice(_newest(images), 4096, "Alibaba Cloud Linux 3 (4 KiB pages)")


def _anolis_rhck(api: EcsApi, instance_type: str) -> ImageChoice:
    # Filter names here: the API's ImageName filter is not a prefix search.
    images = [
        image
        for image in _describe_images(api, {"InstanceType": instance_type})
        if _is_anolis_rhck(str(image.get("ImageName", "")))
    ]
    if not images:
        raise NoOfferError(
            f"no Anolis 8 arm64 image with the RHCK kernel for {instance_type} "
            f"in {api.region}, needed for a 64 KiB-page site",
            hint="set [aliyun] image_id to an arm64 image with a 64 KiB-page kernel",
        )
    return _choice(
        _newest(images), 65536, "Anolis 8 with the RHCK kernel (64 KiB pages)"
    )


def _is_anolis_rhck(name: str) -> bool:
    name = name.lower()
    return name.startswith(ANOLIS8_NAME) and ANOLIS8_RHCK_MARK in name


def _describe_images(api: EcsApi, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every matching image, all pages."""
    params: dict[str, Any] = {
        "ImageOwnerAlias": "system",
        "Architecture": "arm64",
        "OSType": "linux",
        "Status": "Available",
    }
    if "ImageId" in extra:
        params = {}
    images: list[dict[str, Any]] = []
    for page in range(1, 20):
        query = params | extra | {"PageSize": 100, "PageNumber": page}
        body = api.call("DescribeImages", query)
        batch = _list(body, "Images", "Image")
        images += batch
        if not batch or len(images) >= int(body.get("TotalCount", 0) or 0):
            break
    return images


def _newest(images: list[dict[str, Any]]) -> dict[str, Any]:
    return max(images, key=lambda image: str(image.get("CreationTime", "")))


def _choice(image: dict[str, Any], page_size: int, reason: str) -> ImageChoice:
    return ImageChoice(
        image_id=str(image["ImageId"]),
        name=str(image.get("ImageName", "")),
        os_name=str(image.get("OSName", "")),
        page_size=page_size,
        reason=reason,
    )


def zones_with_stock(api: EcsApi, instance_type: str, *, spot: bool) -> list[str]:
    """Return the zones that say they have this type in stock right now."""
    params: dict[str, Any] = {
        "DestinationResource": "InstanceType",
        "InstanceType": instance_type,
        "InstanceChargeType": "PostPaid",
        "ResourceType": "instance",
    }
    if spot:
        params["SpotStrategy"] = "SpotAsPriceGo"
    body = api.call("DescribeAvailableResource", params)
    zones = []
    for zone in _list(body, "AvailableZones", "AvailableZone"):
        if _has_stock(zone, instance_type):
            zones.append(str(zone["ZoneId"]))
    log.debug("%s in stock in %s", instance_type, zones or "no zone")
    return zones


def _has_stock(zone: dict[str, Any], instance_type: str) -> bool:
    if zone.get("Status") != "Available":
        return False
    if zone.get("StatusCategory") != "WithStock":
        return False
    return _offers_type(zone, instance_type)


def _offers_type(zone: dict[str, Any], instance_type: str) -> bool:
    resources = _list(zone, "AvailableResources", "AvailableResource")
    if not resources:
        return True
    for resource in resources:
        for item in _list(resource, "SupportedResources", "SupportedResource"):
            if item.get("Value") == instance_type and item.get("Status") == "Available":
                return True
    return False


def quote_price(
    api: EcsApi, *, instance_type: str, zone_id: str, image_id: str, spot: bool
) -> Price:
    """Return the hourly price of one instance as this run would rent it."""
    params: dict[str, Any] = {
        "ResourceType": "instance",
        "InstanceType": instance_type,
        "ZoneId": zone_id,
        "ImageId": image_id,
        "InstanceNetworkType": "vpc",
        "InternetChargeType": "PayByTraffic",
        "InternetMaxBandwidthOut": BANDWIDTH_MBPS,
        "SystemDisk": {
            "Category": SYSTEM_DISK["Category"],
            "Size": SYSTEM_DISK["Size"],
        },
        "PriceUnit": "Hour",
        "Amount": 1,
    }
    if spot:
        params["SpotStrategy"] = "SpotAsPriceGo"
    price = (api.call("DescribePrice", params).get("PriceInfo") or {}).get(
        "Price"
    ) or {}
    try:
        return Price(hourly=float(price["TradePrice"]), currency=str(price["Currency"]))
    except (KeyError, TypeError, ValueError):
        raise ProvisionError(
            f"DescribePrice gave no price for {instance_type} in {zone_id}"
        ) from None


def _list(body: dict[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
    wrapper = body.get(outer) or {}
    items = wrapper.get(inner, []) if isinstance(wrapper, dict) else []
    return [item for item in items if isinstance(item, dict)]
