"""The parity table: how closely the verification host matched the site.

Each row is one axis of the site profile, with the site's value, the host's,
and a status:

- ``matched``: the host had the site's value, so the run proved it;
- ``differs``: the host differed and nothing else covered that axis;
- ``static``: the host differed (or there was no host), and only the static
  checks of ``inspect`` judged the image on that axis;
- ``unknown``: the site profile or the host did not say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from siteproof.platforms import normalize_arch
from siteproof.site import SiteProfile, SiteSpec

MATCHED = "matched"
DIFFERS = "differs"
STATIC = "static"
UNKNOWN = "unknown"

STATUS_LABELS = {
    MATCHED: "matched",
    DIFFERS: "differs",
    STATIC: "only checked statically",
    UNKNOWN: "unknown",
}

Row = dict[str, str]


def parity_table(
    profile: SiteProfile,
    host_facts: Mapping[str, Any] | None,
    *,
    isolated: bool | None = None,
) -> list[Row]:
    """Compare the site with the verification host, axis by axis.

    Args:
        profile: the site profile.
        host_facts: ``HostFacts.to_dict()`` of the host, or None/empty when
            nothing ran (an ``inspect`` report).
        isolated: whether the container's outbound network was cut during
            the run; None when unknown (then ``host_facts["offline"]`` is used
            if present).

    Returns:
        One dict per axis: ``axis``, ``site``, ``host``, ``status``, ``note``.
    """
    host = dict(host_facts or {})
    if isolated is None and isinstance(host.get("offline"), bool):
        isolated = host["offline"]
    site = profile.site
    return [
        _architecture(site, host),
        _page_size(site, host),
        _docker(site, host),
        _plain("cgroup version", site.cgroup, host.get("cgroup", "")),
        _plain("kernel series", _series(site.kernel), _series(host.get("kernel", ""))),
        _plain("SELinux", site.selinux, host.get("selinux", "")),
        _cpu_features(site, host),
        _offline(site, host, isolated),
    ]


def _row(axis: str, site: str, host: str, status: str, note: str = "") -> Row:
    return {
        "axis": axis,
        "site": site or "-",
        "host": host or "-",
        "status": status,
        "note": note,
    }


def _compare(
    axis: str,
    site: str,
    host: str,
    *,
    static_note: str = "",
    same: Callable[[str, str], bool] = str.__eq__,
) -> Row:
    if not site:
        return _row(axis, site, host, UNKNOWN, "the site profile does not say")
    if not host:
        status = STATIC if static_note else UNKNOWN
        return _row(axis, site, host, status, static_note or "no host ran the image")
    if same(site, host):
        return _row(axis, site, host, MATCHED)
    if static_note:
        return _row(axis, site, host, STATIC, static_note)
    return _row(axis, site, host, DIFFERS, "the run did not reproduce this")


def _plain(axis: str, site: str, host: str) -> Row:
    return _compare(axis, site, str(host))


def _architecture(site: SiteSpec, host: dict[str, Any]) -> Row:
    wanted = site.platform.architecture
    actual = normalize_arch(str(host.get("architecture", "")))
    note = "machine code checked statically"
    row = _compare("architecture", wanted, actual, static_note=note)
    if row["status"] == STATIC and wanted in (host.get("qemu") or ()):
        row["note"] = "the image ran under QEMU emulation; " + note
    return row


def _page_size(site: SiteSpec, host: dict[str, Any]) -> Row:
    actual = int(host.get("page_size") or 0)
    return _compare(
        "page size",
        _kib(site.page_size),
        _kib(actual) if actual else "",
        static_note="ELF segment alignment checked statically",
    )


def _kib(size: int) -> str:
    return f"{size // 1024}k"


def _docker(site: SiteSpec, host: dict[str, Any]) -> Row:
    return _compare(
        "Docker major.minor",
        site.docker_text,
        _major_minor(str(host.get("docker_server", ""))),
        static_note=f"archive format checked against Docker {site.docker_text}",
    )


def _major_minor(version: str) -> str:
    match = re.match(r"(\d+)\.(\d+)", version)
    return f"{int(match.group(1))}.{int(match.group(2)):02d}" if match else ""


def _series(kernel: str) -> str:
    match = re.match(r"(\d+\.\d+)", kernel)
    return match.group(1) if match else ""


def _cpu_features(site: SiteSpec, host: dict[str, Any]) -> Row:
    flags = host.get("cpu_flags") or ""
    host_flags = set(flags.split() if isinstance(flags, str) else flags)
    site_flags = set(site.cpu_features)
    axis = "CPU features"
    if not site_flags:
        return _row(axis, "", _count(host_flags), UNKNOWN, "the site does not say")
    if not host_flags:
        return _row(axis, _count(site_flags), "", UNKNOWN, "no host ran the image")
    extra = sorted(host_flags - site_flags)
    if not extra:
        return _row(axis, _count(site_flags), _count(host_flags), MATCHED)
    shown = " ".join(extra[:8]) + (" ..." if len(extra) > 8 else "")
    note = f"the host has {len(extra)} the site lacks: {shown}"
    return _row(axis, _count(site_flags), _count(host_flags), DIFFERS, note)


def _count(flags: set[str]) -> str:
    return f"{len(flags)} flags" if flags else ""


def _offline(site: SiteSpec, host: dict[str, Any], isolated: bool | None) -> Row:
    wanted = "offline" if site.offline else "online"
    if isolated is None:
        return _row("offline", wanted, "", UNKNOWN, "no host ran the image")
    actual = "offline" if isolated else "online"
    if wanted == actual:
        return _row("offline", wanted, actual, MATCHED)
    return _row("offline", wanted, actual, DIFFERS, "the run did not reproduce this")
