"""Records of the resources the emulator holds, one class per resource kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

PENDING = "Pending"
STARTING = "Starting"
RUNNING = "Running"
STOPPING = "Stopping"
STOPPED = "Stopped"


@dataclass
class Instance:
    """One instance and its lifecycle bookkeeping."""

    instance_id: str
    region_id: str
    zone_id: str
    instance_type: str
    image_id: str
    vpc_id: str
    vswitch_id: str
    private_ip: str
    security_group_ids: list[str]
    created_at: datetime
    status: str = PENDING
    phase_since: datetime | None = None
    instance_name: str = ""
    host_name: str = ""
    description: str = ""
    key_pair_name: str = ""
    public_key: str | None = None
    user_data_b64: str | None = None
    user_data: bytes | None = None
    internet_max_bandwidth_out: int = 0
    internet_charge_type: str = "PayByTraffic"
    spot_strategy: str = "NoSpot"
    spot_price_limit: float = 0.0
    system_disk_category: str = "cloud_essd"
    system_disk_size: int = 20
    auto_release_time: datetime | None = None
    start_time: datetime | None = None
    public_ip: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    never_running: bool = False
    start_sshd: bool = True
    user_data_outcome: str = "done"
    booting: bool = False
    removing: bool = False
    host_handle: object | None = None
    host_error: str = ""


@dataclass
class Rule:
    """One security group rule (ingress or egress)."""

    rule_id: str
    direction: str
    ip_protocol: str
    port_range: str
    cidr: str
    policy: str
    priority: int
    description: str
    created_at: datetime

    def key(self) -> tuple[str, str, str, str, str, int]:
        """Return what makes two rules the same rule."""
        return (
            self.direction,
            self.ip_protocol,
            self.port_range,
            self.cidr,
            self.policy,
            self.priority,
        )


@dataclass
class SecurityGroup:
    """One security group with its rules."""

    group_id: str
    region_id: str
    vpc_id: str
    name: str
    description: str
    group_type: str
    created_at: datetime
    rules: list[Rule] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class KeyPair:
    """One imported key pair (only the public half is ever known)."""

    name: str
    region_id: str
    public_key: str
    fingerprint: str
    created_at: datetime
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Vpc:
    """One VPC; ``preexisting`` ones belong to the account, not the run."""

    vpc_id: str
    region_id: str
    cidr_block: str
    name: str
    description: str
    is_default: bool
    created_at: datetime
    available_at: datetime
    preexisting: bool = False
    vrouter_id: str = ""


@dataclass
class VSwitch:
    """One vSwitch in one zone of a VPC."""

    vswitch_id: str
    vpc_id: str
    region_id: str
    zone_id: str
    cidr_block: str
    name: str
    description: str
    is_default: bool
    created_at: datetime
    available_at: datetime
    preexisting: bool = False
    next_host: int = 10


@dataclass(frozen=True)
class CallRecord:
    """One API call as the emulator saw it."""

    action: str
    params: dict[str, str]
    status: int
    code: str


@dataclass(frozen=True)
class LiveResources:
    """What still exists: tests assert this is empty after every run."""

    instances: tuple[str, ...]
    security_groups: tuple[str, ...]
    key_pairs: tuple[str, ...]
    vpcs: tuple[str, ...]
    vswitches: tuple[str, ...]

    def is_empty(self) -> bool:
        """Return True when nothing the run created is left."""
        return not (
            self.instances
            or self.security_groups
            or self.key_pairs
            or self.vpcs
            or self.vswitches
        )
