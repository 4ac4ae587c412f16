"""What the report says about a rented instance: which, where, what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from siteproof.site import SiteProfile


@dataclass(frozen=True, slots=True)
class AliyunFacts:
    """The rented instance as the report records it.

    Attributes:
        expected_page_size: page size of the image's kernel, in bytes, as
            the image was chosen for; the run measures the real one.
        hourly_price: DescribePrice's trade price per hour.
        max_cost: the most the run can cost before AutoReleaseTime.
        billed_s: seconds from RunInstances until the instance was gone.
        cost: ``hourly_price`` times ``billed_s`` (an estimate; the bill wins).
        egress_cut: outbound internet was dropped before ``docker load``.
        attempts: zones and types that were tried and why they failed.
    """

    run_id: str
    region: str
    instance_id: str = ""
    instance_type: str = ""
    zone_id: str = ""
    image_id: str = ""
    image_name: str = ""
    image_reason: str = ""
    expected_page_size: int = 0
    spot: bool = False
    hourly_price: float | None = None
    currency: str = ""
    max_cost: float | None = None
    public_ip: str = ""
    auto_release_time: str = ""
    default_network: bool = False
    security_group_id: str = ""
    egress_cut: bool = False
    rented_at: str = ""
    billed_s: float | None = None
    cost: float | None = None
    attempts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the facts as JSON-ready data."""
        facts = asdict(self)
        facts["attempts"] = list(self.attempts)
        return facts


def site_axes(facts: AliyunFacts, profile: SiteProfile) -> dict[str, dict[str, str]]:
    """Say which site axes the rented machine was chosen to match.

    The host facts the run measures (``getconf PAGESIZE``, ``docker
    version``, the cgroup mount) are the final word; this is the intent,
    so the report can show both.

    Returns:
        ``{axis: {"site": ..., "instance": ..., "match": "yes"|"no"|"measured"}}``
    """
    site = profile.site
    axes = {
        "platform": _axis(str(site.platform), "linux/arm64", str(site.platform)),
        "page_size": _axis(
            str(site.page_size), str(facts.expected_page_size), str(site.page_size)
        ),
        "offline": _axis(
            "yes" if site.offline else "no",
            "yes" if facts.egress_cut else "no",
            "yes" if site.offline else "no",
        ),
    }
    pinned = profile.aliyun.docker_version
    axes["docker"] = {
        "site": site.docker_text,
        "instance": pinned or "distribution's current",
        "match": "measured",
    }
    axes["cgroup"] = {"site": site.cgroup, "instance": "", "match": "measured"}
    return axes


def _axis(site: str, instance: str, wanted: str) -> dict[str, str]:
    return {
        "site": site,
        "instance": instance,
        "match": "yes" if instance == wanted else "no",
    }
