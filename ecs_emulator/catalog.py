"""What the emulated cloud sells: regions, zones, instance types, images, prices.

Values are plausible, not authoritative (see shared/aliyun-ecs.md); prices are
invented round numbers in CNY per hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

PAGE_4K = 4096
PAGE_64K = 65536


@dataclass(frozen=True)
class Region:
    """One region: its id, display name, zone suffixes and id prefix."""

    region_id: str
    local_name: str
    zone_suffixes: tuple[str, ...]
    id_prefix: str

    @property
    def zone_ids(self) -> tuple[str, ...]:
        """Return the zone ids, e.g. ``cn-hangzhou-h``."""
        return tuple(f"{self.region_id}-{s}" for s in self.zone_suffixes)


@dataclass(frozen=True)
class InstanceType:
    """One instance type with its size, architecture and hourly price."""

    name: str
    cpu: int
    memory_mib: int
    architecture: str
    price_per_hour: float

    @property
    def family(self) -> str:
        """Return the family, e.g. ``ecs.c8y``."""
        return self.name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Image:
    """One public image."""

    image_id: str
    name: str
    family: str
    architecture: str
    os_name: str
    os_name_en: str
    platform: str
    creation_time: datetime
    page_size: int


REGIONS: tuple[Region, ...] = (
    Region("cn-hangzhou", "华东1（杭州）", ("h", "i", "j", "k"), "bp"),  # noqa: RUF001
    Region("cn-shanghai", "华东2（上海）", ("e", "f", "g"), "uf"),  # noqa: RUF001
    Region("cn-beijing", "华北2（北京）", ("g", "h", "i"), "2z"),  # noqa: RUF001
    Region("cn-hongkong", "中国香港", ("b", "c"), "j6"),
    Region("ap-southeast-1", "新加坡", ("a", "b", "c"), "t4"),
)

INSTANCE_TYPES: tuple[InstanceType, ...] = (
    InstanceType("ecs.c8y.small", 1, 2048, "arm64", 0.09),
    InstanceType("ecs.c8y.large", 2, 4096, "arm64", 0.18),
    InstanceType("ecs.c8y.xlarge", 4, 8192, "arm64", 0.36),
    InstanceType("ecs.g8y.small", 1, 4096, "arm64", 0.12),
    InstanceType("ecs.g8y.large", 2, 8192, "arm64", 0.24),
    InstanceType("ecs.r8y.small", 1, 8192, "arm64", 0.15),
    InstanceType("ecs.c6r.large", 2, 4096, "arm64", 0.16),
    InstanceType("ecs.g6r.large", 2, 8192, "arm64", 0.21),
    InstanceType("ecs.c7.large", 2, 4096, "x86_64", 0.27),
    InstanceType("ecs.g7.large", 2, 8192, "x86_64", 0.33),
)

_RELEASED = datetime(2024, 8, 19, 8, 0, tzinfo=UTC)
_OLDER = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
ALINUX3_ARM64_FAMILY = "acs:alibaba_cloud_linux_3_2104_lts_arm64"
ANOLIS8_ARM64_FAMILY = "acs:anolis_8_10_rhck_arm64"

IMAGES: tuple[Image, ...] = (
    Image(
        "aliyun_3_arm64_20G_alibase_20240819.vhd",
        "aliyun_3_arm64_20G_alibase_20240819.vhd",
        ALINUX3_ARM64_FAMILY,
        "arm64",
        "Alibaba Cloud Linux  3.2104 LTS 64位 ARM版",
        "Alibaba Cloud Linux  3.2104 LTS 64 bit ARM Edition",
        "Aliyun",
        _RELEASED,
        PAGE_4K,
    ),
    Image(
        "aliyun_3_arm64_20G_alibase_20240101.vhd",
        "aliyun_3_arm64_20G_alibase_20240101.vhd",
        ALINUX3_ARM64_FAMILY,
        "arm64",
        "Alibaba Cloud Linux  3.2104 LTS 64位 ARM版",
        "Alibaba Cloud Linux  3.2104 LTS 64 bit ARM Edition",
        "Aliyun",
        _OLDER,
        PAGE_4K,
    ),
    Image(
        "anolisos_8_10_arm64_20G_rhck_alibase_20240819.vhd",
        "anolisos_8_10_arm64_20G_rhck_alibase_20240819.vhd",
        ANOLIS8_ARM64_FAMILY,
        "arm64",
        "Anolis OS 8.10 RHCK 64位 ARM版",
        "Anolis OS 8.10 RHCK 64 bit ARM Edition",
        "Anolis",
        _RELEASED,
        PAGE_64K,
    ),
    Image(
        "ubuntu_22_04_arm64_20G_alibase_20240819.vhd",
        "ubuntu_22_04_arm64_20G_alibase_20240819.vhd",
        "acs:ubuntu_22_04_arm64",
        "arm64",
        "Ubuntu  22.04 64位 ARM版",
        "Ubuntu  22.04 64 bit ARM Edition",
        "Ubuntu",
        _RELEASED,
        PAGE_4K,
    ),
    Image(
        "aliyun_3_x64_20G_alibase_20240819.vhd",
        "aliyun_3_x64_20G_alibase_20240819.vhd",
        "acs:alibaba_cloud_linux_3_2104_lts_x64",
        "x86_64",
        "Alibaba Cloud Linux  3.2104 LTS 64位",
        "Alibaba Cloud Linux  3.2104 LTS 64 bit",
        "Aliyun",
        _RELEASED,
        PAGE_4K,
    ),
)

SYSTEM_DISK_CATEGORIES = ("cloud_essd", "cloud_auto", "cloud_efficiency")
SYSTEM_DISK_PRICE_PER_GIB_HOUR = 0.0014
SPOT_DISCOUNT = 0.2
BANDWIDTH_PRICE_PER_MBPS_HOUR = 0.063


def find_region(region_id: str) -> Region | None:
    """Return the region with this id, or None."""
    return next((r for r in REGIONS if r.region_id == region_id), None)


def find_instance_type(name: str) -> InstanceType | None:
    """Return the instance type with this name, or None."""
    return next((t for t in INSTANCE_TYPES if t.name == name), None)


def find_image(image_id: str) -> Image | None:
    """Return the image with this id, or None."""
    return next((i for i in IMAGES if i.image_id == image_id), None)


def latest_in_family(family: str) -> Image | None:
    """Return the newest image of an image family, or None."""
    members = [i for i in IMAGES if i.family == family]
    return max(members, key=lambda i: i.creation_time, default=None)


def hourly_price(
    instance_type: InstanceType, *, spot: bool, disk_gib: int, bandwidth_mbps: int
) -> float:
    """Return the price per hour of one instance with its disk and bandwidth."""
    compute = instance_type.price_per_hour * (SPOT_DISCOUNT if spot else 1.0)
    disk = disk_gib * SYSTEM_DISK_PRICE_PER_GIB_HOUR
    return round(compute + disk + bandwidth_mbps * BANDWIDTH_PRICE_PER_MBPS_HOUR, 4)
