"""Release what a run rented, in dependency order, patiently.

The instance goes first (forced); the security group follows once the cloud
no longer counts the instance in it (``DependencyViolation`` is retried);
then the key pair, the vSwitch and the VPC the run created. A resource that
is already gone counts as released. Whatever could not be released is
returned, so the caller can name every id in a ``TeardownError``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from siteproof.errors import ProvisionError
from siteproof.journal import RELEASE_ORDER, Journal, Resource
from siteproof.targets.aliyun.api import ApiError, EcsApi

log = logging.getLogger(__name__)

RUN_TAG = "siteproof:run"

# Codes meaning "not yet, the thing is still busy or still in use".
_BUSY_CODES = frozenset(
    {
        "IncorrectInstanceStatus",
        "IncorrectInstanceStatus.Initializing",
        "DependencyViolation",
        "DependencyViolation.RouteEntry",
        "IncorrectVSwitchStatus",
        "IncorrectVpcStatus",
        "TaskConflict",
        "OperationConflict",
    }
)


def is_gone(code: str) -> bool:
    """Tell whether an error code says the resource no longer exists."""
    return code.endswith(".NotFound") or code == "Forbidden.InstanceNotFound"


def is_busy(code: str) -> bool:
    """Tell whether an error code says "try again once the resource is free"."""
    return code in _BUSY_CODES or code.startswith("DependencyViolation")


class Ledger:
    """What a run holds right now, mirrored into its journal as it changes."""

    def __init__(self, journal: Journal | None, region: str) -> None:
        self.journal = journal
        self.region = region
        self._held: dict[tuple[str, str], Resource] = {}

    def add(self, kind: str, resource_id: str) -> Resource:
        """Record a new resource (journal first, so a crash cannot lose it)."""
        resource = Resource(kind, resource_id, self.region)
        if self.journal is not None:
            self.journal.record_created(resource)
        self._held[(kind, resource_id)] = resource
        return resource

    def remove(self, resource: Resource) -> None:
        """Record that a resource is gone."""
        if self.journal is not None:
            self.journal.record_released(resource)
        self._held.pop((resource.kind, resource.id), None)

    def held(self, kind: str | None = None) -> list[Resource]:
        """Return what is still held, in release order."""
        items = [r for r in self._held.values() if kind in (None, r.kind)]
        return sorted(items, key=lambda r: RELEASE_ORDER.index(r.kind))


@dataclass(frozen=True, slots=True)
class ReleasePolicy:
    """How long to keep trying before a resource counts as left behind."""

    deadline_s: float = 300.0
    poll_s: float = 3.0


class Releaser:
    """Deletes resources through the API until they are gone or time runs out."""

    def __init__(
        self,
        api: EcsApi,
        *,
        policy: ReleasePolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_released: Callable[[Resource], None] | None = None,
    ) -> None:
        self.api = api
        self.policy = policy or ReleasePolicy()
        self._sleep = sleep
        self._on_released = on_released
        self._deadline = 0.0

    def release(self, resources: Iterable[Resource]) -> list[Resource]:
        """Release resources in dependency order; return those left behind."""
        self._deadline = time.monotonic() + self.policy.deadline_s
        ordered = sorted(set(resources), key=lambda r: RELEASE_ORDER.index(r.kind))
        instances = [r for r in ordered if r.kind == "instance"]
        failed = [r for r in instances if not self._delete(r)]
        gone = [r for r in instances if r not in failed]
        failed += self._wait_instances_gone(gone)
        # An instance that stays holds its group and network: try those once.
        patient = not failed
        for resource in ordered:
            if resource.kind == "instance":
                continue
            if not self._delete(
                resource, patient=patient or resource.kind == "key_pair"
            ):
                failed.append(resource)
        return failed

    def _delete(self, resource: Resource, *, patient: bool = True) -> bool:
        action, params = _delete_request(resource)
        while True:
            try:
                self.api.call(action, params)
            except ApiError as exc:
                if is_gone(exc.code):
                    break
                if not (patient and is_busy(exc.code)) or self._out_of_time():
                    log.warning("cannot release %s: %s", resource, exc)
                    return False
                log.debug("%s busy (%s), retrying", resource, exc.code)
                self._sleep(self.policy.poll_s)
                continue
            except ProvisionError as exc:
                log.warning("cannot release %s: %s", resource, exc)
                return False
            break
        if resource.kind != "instance":
            self._released(resource)
        log.info("released %s", resource)
        return True

    def _wait_instances_gone(self, instances: list[Resource]) -> list[Resource]:
        """Wait until deleted instances vanish from the API; they hold the group."""
        waiting = {r.id: r for r in instances}
        while waiting:
            try:
                alive = set(describe_instance_ids(self.api, list(waiting)))
            except ProvisionError as exc:
                log.warning("cannot confirm instances are gone: %s", exc)
                return list(waiting.values())
            for instance_id in list(waiting):
                if instance_id not in alive:
                    self._released(waiting.pop(instance_id))
            if waiting and self._out_of_time():
                return list(waiting.values())
            if waiting:
                self._sleep(self.policy.poll_s)
        return []

    def _released(self, resource: Resource) -> None:
        if self._on_released is not None:
            self._on_released(resource)

    def _out_of_time(self) -> bool:
        return time.monotonic() >= self._deadline


def _delete_request(resource: Resource) -> tuple[str, dict[str, object]]:
    if resource.kind == "instance":
        return "DeleteInstance", {
            "InstanceId": resource.id,
            "Force": True,
            "ForceStop": True,
        }
    if resource.kind == "security_group":
        return "DeleteSecurityGroup", {"SecurityGroupId": resource.id}
    if resource.kind == "key_pair":
        return "DeleteKeyPairs", {"KeyPairNames": json.dumps([resource.id])}
    if resource.kind == "vswitch":
        return "DeleteVSwitch", {"VSwitchId": resource.id}
    if resource.kind == "vpc":
        return "DeleteVpc", {"VpcId": resource.id}
    raise ValueError(f"unknown resource kind {resource.kind!r}")


def describe_instance_ids(api: EcsApi, instance_ids: list[str]) -> list[str]:
    """Return which of these instances still exist (in any state)."""
    found: list[str] = []
    for start in range(0, len(instance_ids), 100):
        chunk = instance_ids[start : start + 100]
        body = api.call(
            "DescribeInstances",
            {"InstanceIds": json.dumps(chunk), "PageSize": 100},
        )
        found += [str(i["InstanceId"]) for i in instances_of(body)]
    return found


def instances_of(body: dict[str, object]) -> list[dict[str, object]]:
    """Return the instance list of a DescribeInstances answer."""
    outer = body.get("Instances") or {}
    inner = outer.get("Instance", []) if isinstance(outer, dict) else []
    return [i for i in inner if isinstance(i, dict)]


def tag_filter(run_id: str | None) -> list[dict[str, str]]:
    """Return the ``Tag`` parameter matching one run, or every siteproof run."""
    return [{"Key": RUN_TAG, "Value": run_id}] if run_id else [{"Key": RUN_TAG}]


def find_run_instances(api: EcsApi, run_id: str | None) -> list[dict[str, object]]:
    """Return every instance tagged for this run (or any run), all pages."""
    found: list[dict[str, object]] = []
    page = 1
    while True:
        body = api.call(
            "DescribeInstances",
            {"Tag": tag_filter(run_id), "PageSize": 100, "PageNumber": page},
        )
        batch = instances_of(body)
        found += batch
        total = int(str(body.get("TotalCount", len(found))))
        if not batch or len(found) >= total:
            return found
        page += 1
