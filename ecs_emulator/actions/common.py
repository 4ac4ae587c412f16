"""Helpers shared by the action handlers: regions, paging, tags, idempotency."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ecs_emulator import catalog
from ecs_emulator.errors import ApiError, invalid_parameter
from ecs_emulator.params import Params

T = TypeVar("T")
Body = dict[str, Any]
MAX_TAGS = 20
RESERVED_TAG_PREFIXES = ("aliyun", "acs:")


def region_of(params: Params) -> catalog.Region:
    """Return the request's region or raise MissingParameter/NotFound."""
    region_id = params.require("RegionId")
    region = catalog.find_region(region_id)
    if region is None:
        raise ApiError(
            404,
            "InvalidRegionId.NotFound",
            "The RegionId provided does not exist in our records.",
        )
    return region


def page(
    items: Sequence[T], params: Params, *, default_size: int = 10, max_size: int = 100
) -> tuple[list[T], Body]:
    """Cut one page by PageNumber/PageSize; return it and the paging fields."""
    size = params.get_int("PageSize", default_size, 1, max_size)
    number = params.get_int("PageNumber", 1, 1)
    start = (number - 1) * size
    fields: Body = {"TotalCount": len(items), "PageNumber": number, "PageSize": size}
    return list(items[start : start + size]), fields


def token_page(
    items: Sequence[T], params: Params, *, default_size: int = 10, max_size: int = 100
) -> tuple[list[T], Body]:
    """Cut one page by NextToken/MaxResults; the token is an opaque offset."""
    size = params.get_int("MaxResults", default_size, 1, max_size)
    token = params.get("NextToken") or "0"
    if not token.isdigit():
        raise invalid_parameter("NextToken", "InvalidNextToken.Malformed")
    start = int(token)
    end = start + size
    next_token = str(end) if end < len(items) else ""
    return list(items[start:end]), {"NextToken": next_token, "TotalCount": len(items)}


def tags_body(tags: dict[str, str]) -> Body:
    """Return ``{"Tag": [{"TagKey", "TagValue"}]}``."""
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]}


def merge_tags(current: dict[str, str], pairs: list[tuple[str, str]]) -> None:
    """Add or replace tags after checking keys and the per-resource limit."""
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ApiError(400, "Duplicate.TagKey", "The Tag.N.Key contain duplicate key.")
    for key in keys:
        if key.lower().startswith(RESERVED_TAG_PREFIXES) or len(key) > 128:
            raise ApiError(
                400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid."
            )
    if len(set(current) | set(keys)) > MAX_TAGS:
        raise ApiError(
            400, "InvalidTagCount", "The specified tags are beyond the permitted range."
        )
    current.update(dict(pairs))


def match_tags(tags: dict[str, str], wanted: list[tuple[str, str]]) -> bool:
    """Return True if every wanted key is present (and equal, when a value)."""
    return all(k in tags and (not v or tags[k] == v) for k, v in wanted)


def match_name(pattern: str | None, name: str) -> bool:
    """Match a name filter; a trailing or leading ``*`` is a wildcard."""
    if pattern is None:
        return True
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return pattern.strip("*") in name
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return name.endswith(pattern[1:])
    return name == pattern


def fingerprint(params: Params, ignore: frozenset[str]) -> str:
    """Return a stable digest of the business parameters of a request."""
    values = {k: v for k, v in params.as_dict().items() if k not in ignore}
    return json.dumps(values, sort_keys=True)


Handler = Callable[[Any, Params], Body]
