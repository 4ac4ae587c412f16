"""``siteproof instances``: live siteproof instances, their age and cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from siteproof.cli.cleanup import cloud_scope, scope_options
from siteproof.errors import EXIT_OK, ProvisionError
from siteproof.targets.aliyun.api import EcsApi
from siteproof.targets.aliyun.offers import Price, quote_price
from siteproof.targets.aliyun.release import RUN_TAG, find_run_instances


@click.command("instances")
@scope_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def instances_command(
    site: str | None, regions: tuple[str, ...], endpoint: str, output_format: str
) -> int:
    """List live instances siteproof rented, with age, lifetime left and cost."""
    chosen, endpoint = cloud_scope(site, regions, endpoint)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for region in chosen:
        api = EcsApi(region=region, endpoint=endpoint)
        prices: dict[tuple[str, str], Price | None] = {}
        for instance in find_run_instances(api, None):
            rows.append(_row(api, instance, now, prices))
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo("no siteproof instances are running", err=True)
    else:
        for row in rows:
            click.echo(_text(row))
    return EXIT_OK


def _row(
    api: EcsApi,
    instance: dict[str, Any],
    now: datetime,
    prices: dict[tuple[str, str], Price | None],
) -> dict[str, Any]:
    created = parse_api_time(str(instance.get("CreationTime", "")))
    release = parse_api_time(str(instance.get("AutoReleaseTime", "")))
    age_s = (now - created).total_seconds() if created else None
    left_s = (release - now).total_seconds() if release else None
    price = _price(api, instance, prices)
    return {
        "instance_id": instance.get("InstanceId"),
        "run_id": _run_of(instance),
        "region": api.region,
        "zone_id": instance.get("ZoneId"),
        "instance_type": instance.get("InstanceType"),
        "status": instance.get("Status"),
        "public_ip": ",".join(
            (instance.get("PublicIpAddress") or {}).get("IpAddress", [])
        ),
        "age_s": None if age_s is None else round(age_s),
        "lifetime_left_s": None if left_s is None else round(max(left_s, 0)),
        "hourly_price": price.hourly if price else None,
        "currency": price.currency if price else "",
        "cost_so_far": price.for_seconds(age_s) if price and age_s else None,
    }


def _price(
    api: EcsApi, instance: dict[str, Any], prices: dict[tuple[str, str], Price | None]
) -> Price | None:
    key = (str(instance.get("InstanceType")), str(instance.get("ZoneId")))
    if key not in prices:
        try:
            prices[key] = quote_price(
                api,
                instance_type=key[0],
                zone_id=key[1],
                image_id=str(instance.get("ImageId", "")),
                spot=instance.get("SpotStrategy", "NoSpot") != "NoSpot",
            )
        except ProvisionError:
            prices[key] = None
    return prices[key]


def _run_of(instance: dict[str, Any]) -> str:
    for tag in (instance.get("Tags") or {}).get("Tag", []):
        if tag.get("TagKey") == RUN_TAG:
            return str(tag.get("TagValue", ""))
    return ""


def parse_api_time(text: str) -> datetime | None:
    """Parse the API's ``2026-12-04T15:45Z`` (or with seconds); "" -> None."""
    for layout in ("%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _text(row: dict[str, Any]) -> str:
    cost = (
        f"{row['cost_so_far']:.2f} {row['currency']}"
        if row["cost_so_far"] is not None
        else "cost unknown"
    )
    return (
        f"{row['instance_id']}  {row['instance_type']}  {row['zone_id']}  "
        f"{row['status']}  {row['public_ip'] or '-'}  age {_duration(row['age_s'])}  "
        f"left {_duration(row['lifetime_left_s'])}  {cost}  run {row['run_id']}"
    )
