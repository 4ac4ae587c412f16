"""Find and release what earlier runs left behind (``siteproof cleanup``).

Two sources are combined: the local journals (which know resources the
moment they existed, even after SIGKILL) and the cloud itself, where every
run's instance, security group and key pair carry the ``siteproof:run``
tag and its VPC and vSwitch are named ``siteproof-<run-id>``. Runs whose
process is still alive on this machine are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from siteproof.journal import Journal, Resource, RunRecord
from siteproof.targets.aliyun.api import EcsApi
from siteproof.targets.aliyun.release import (
    RUN_TAG,
    ReleasePolicy,
    Releaser,
    find_run_instances,
    tag_filter,
)

log = logging.getLogger(__name__)

NAME_PREFIX = "siteproof-"


@dataclass(frozen=True, slots=True)
class Leftover:
    """A resource some run left behind, and how we know about it."""

    resource: Resource
    run_id: str
    source: str
    status: str = ""


def find_leftovers(api: EcsApi, runs: Sequence[RunRecord]) -> list[Leftover]:
    """Return everything in this region that journals or tags show is left.

    Args:
        api: the region and endpoint to look in.
        runs: unfinished journals for this region and endpoint.
    """
    active = {run.run_id for run in runs if run.is_active}
    found: dict[tuple[str, str], Leftover] = {}
    for run in runs:
        if run.run_id in active:
            log.info("run %s is still in progress here; leaving it alone", run.run_id)
            continue
        for resource in run.left:
            status = "kept" if run.is_kept else ""
            found[(resource.kind, resource.id)] = Leftover(
                resource, run.run_id, "journal", status
            )
    for leftover in _tagged(api):
        key = (leftover.resource.kind, leftover.resource.id)
        if leftover.run_id not in active and key not in found:
            found[key] = leftover
        elif key in found and leftover.status:
            found[key] = Leftover(
                found[key].resource, found[key].run_id, "journal+cloud", leftover.status
            )
    return list(found.values())


def _tagged(api: EcsApi) -> Iterable[Leftover]:
    region = api.region
    for instance in find_run_instances(api, None):
        yield Leftover(
            Resource("instance", str(instance["InstanceId"]), region),
            _tag_value(instance),
            "cloud",
            str(instance.get("Status", "")),
        )
    for group in _pages(
        api, "DescribeSecurityGroups", "SecurityGroups", "SecurityGroup"
    ):
        resource = Resource("security_group", str(group["SecurityGroupId"]), region)
        yield Leftover(resource, _tag_value(group), "cloud")
    for pair in _pages(api, "DescribeKeyPairs", "KeyPairs", "KeyPair"):
        resource = Resource("key_pair", str(pair["KeyPairName"]), region)
        yield Leftover(resource, _tag_value(pair), "cloud")
    yield from _named_networks(api)


def _named_networks(api: EcsApi) -> Iterable[Leftover]:
    """VPCs and vSwitches are not tagged by this API; they carry our name."""
    region = api.region
    vpcs = _pages(api, "DescribeVpcs", "Vpcs", "Vpc", tagged=False)
    for vpc in vpcs:
        name = str(vpc.get("VpcName", ""))
        if not name.startswith(NAME_PREFIX) or vpc.get("IsDefault"):
            continue
        run_id = name.removeprefix(NAME_PREFIX)
        body = api.call("DescribeVSwitches", {"VpcId": vpc["VpcId"], "PageSize": 50})
        for vswitch in (body.get("VSwitches") or {}).get("VSwitch", []):
            resource = Resource("vswitch", str(vswitch["VSwitchId"]), region)
            yield Leftover(resource, run_id, "cloud")
        yield Leftover(Resource("vpc", str(vpc["VpcId"]), region), run_id, "cloud")


def _pages(
    api: EcsApi, action: str, outer: str, inner: str, *, tagged: bool = True
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in range(1, 50):
        params: dict[str, Any] = {"PageSize": 50, "PageNumber": page}
        if tagged:
            params["Tag"] = tag_filter(None)
        body = api.call(action, params)
        batch = [
            i for i in (body.get(outer) or {}).get(inner, []) if isinstance(i, dict)
        ]
        items += batch
        if not batch or len(items) >= int(body.get("TotalCount", 0) or 0):
            break
    return items


def _tag_value(item: dict[str, Any]) -> str:
    tags = (item.get("Tags") or {}).get("Tag", [])
    for tag in tags:
        if tag.get("TagKey", tag.get("Key")) == RUN_TAG:
            return str(tag.get("TagValue", tag.get("Value", "")))
    return ""


def release_leftovers(
    api: EcsApi,
    leftovers: Sequence[Leftover],
    runs: Sequence[RunRecord],
    *,
    policy: ReleasePolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> list[Resource]:
    """Release leftovers, noting each release in its run's journal.

    Returns:
        The resources that could not be released.
    """
    journals = {run.run_id: Journal(run.path) for run in runs}
    owner = {(x.resource.kind, x.resource.id): x.run_id for x in leftovers}

    def note(resource: Resource) -> None:
        journal = journals.get(owner.get((resource.kind, resource.id), ""))
        if journal is not None:
            journal.record_released(resource)

    kwargs: dict[str, Any] = {"policy": policy, "on_released": note}
    if sleep is not None:
        kwargs["sleep"] = sleep
    failed = Releaser(api, **kwargs).release(x.resource for x in leftovers)
    failed_runs = {owner.get((r.kind, r.id)) for r in failed}
    for run in runs:
        if run.run_id not in failed_runs and not run.is_active:
            Journal(run.path).finish()
    return failed
