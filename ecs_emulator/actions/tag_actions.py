"""Tag actions over instances, security groups and key pairs."""

from __future__ import annotations

from ecs_emulator.actions.common import Body, merge_tags, region_of, token_page
from ecs_emulator.errors import ApiError, missing_parameter
from ecs_emulator.params import Params
from ecs_emulator.state import EmulatorState

RESOURCE_TYPES = ("instance", "securitygroup", "keypair")
LIST_PAGE_SIZE = 50


def tag_resources(state: EmulatorState, params: Params) -> Body:
    """TagResources: add or replace tags on every listed resource."""
    resources = _resources(state, params, require_ids=True)
    pairs = params.get_tags()
    if not pairs:
        raise missing_parameter("Tag.1.Key")
    for tags in resources.values():
        merge_tags(tags, pairs)
    return {}


def untag_resources(state: EmulatorState, params: Params) -> Body:
    """UntagResources: remove TagKey.N (or every tag with All=true)."""
    resources = _resources(state, params, require_ids=True)
    keys = params.get_list("TagKey")
    remove_all = params.get_bool("All")
    for tags in resources.values():
        for key in list(tags):
            if remove_all or key in keys:
                del tags[key]
    return {}


def list_tag_resources(state: EmulatorState, params: Params) -> Body:
    """ListTagResources: one entry per (resource, tag), NextToken paging."""
    resources = _resources(state, params, require_ids=False)
    wanted = params.get_tags()
    filters = params.get_records("TagFilter")
    kind = params.require("ResourceType")
    entries = [
        {"ResourceType": kind, "ResourceId": rid, "TagKey": k, "TagValue": v}
        for rid, tags in resources.items()
        if _has_tags(tags, wanted) and _passes_filters(tags, filters)
        for k, v in tags.items()
    ]
    selected, paging = token_page(entries, params, default_size=LIST_PAGE_SIZE)
    return {"TagResources": {"TagResource": selected}, "NextToken": paging["NextToken"]}


def _has_tags(tags: dict[str, str], wanted: list[tuple[str, str]]) -> bool:
    return all(tags.get(k) == v for k, v in wanted)


def _passes_filters(tags: dict[str, str], filters: list[dict[str, str]]) -> bool:
    for record in filters:
        key = record.get("TagKey", "")
        values = [v for f, v in record.items() if f.startswith("TagValues.")]
        if key not in tags or (values and tags[key] not in values):
            return False
    return True


def _resources(
    state: EmulatorState, params: Params, *, require_ids: bool
) -> dict[str, dict[str, str]]:
    """Return ``{resource id: its tag dict}`` for the request's resources."""
    region = region_of(params)
    kind = params.require("ResourceType").lower()
    if kind not in RESOURCE_TYPES:
        raise ApiError(
            400,
            "InvalidResourceType.NotSupported",
            f"The specified resource type {kind} is not supported.",
        )
    every = _all_of_kind(state, kind, region.region_id)
    ids = params.get_list("ResourceId")
    if require_ids and not ids:
        raise missing_parameter("ResourceId.1")
    missing = [i for i in ids if i not in every]
    if missing:
        raise ApiError(
            404,
            "InvalidResourceId.NotFound",
            "The specified ResourceIds are not found in our records.",
        )
    return {i: every[i] for i in ids} if ids else every


def _all_of_kind(
    state: EmulatorState, kind: str, region_id: str
) -> dict[str, dict[str, str]]:
    if kind == "instance":
        return {
            i.instance_id: i.tags
            for i in state.instances.values()
            if i.region_id == region_id
        }
    if kind == "securitygroup":
        return {
            g.group_id: g.tags
            for g in state.security_groups.values()
            if g.region_id == region_id
        }
    return {name: p.tags for (r, name), p in state.key_pairs.items() if r == region_id}
