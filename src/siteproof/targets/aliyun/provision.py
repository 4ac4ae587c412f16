"""Buy exactly one instance: type by type, zone by zone, within budget.

Instance types are tried in the order ``[aliyun] instance_types`` gives;
for each, the zones that report stock, the image that matches the site and
the price. No stock, a zone not on sale or an unsupported type moves on to
the next zone or type; a price above ``[aliyun] max_price`` skips the type.
Each purchase attempt carries its own ClientToken, written to the journal
before the request leaves, so a retried call cannot buy a second instance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from siteproof.errors import ProvisionError
from siteproof.journal import Journal
from siteproof.site import SiteProfile
from siteproof.targets.aliyun.api import CapacityError, EcsApi
from siteproof.targets.aliyun.network import Network, NetworkBuilder
from siteproof.targets.aliyun.offers import (
    BANDWIDTH_MBPS,
    SYSTEM_DISK,
    ImageChoice,
    NoOfferError,
    Price,
    choose_image,
    quote_price,
    zones_with_stock,
)
from siteproof.targets.aliyun.release import RUN_TAG, Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rental:
    """The instance that was bought and the choices behind it."""

    instance_id: str
    instance_type: str
    image: ImageChoice
    price: Price
    network: Network
    auto_release_time: str
    attempts: tuple[str, ...]


class Renter:
    """Walks types and zones until one instance is bought."""

    def __init__(
        self,
        api: EcsApi,
        profile: SiteProfile,
        *,
        run_id: str,
        journal: Journal,
        ledger: Ledger,
        network: NetworkBuilder,
        user_data: str,
    ) -> None:
        self.api = api
        self.profile = profile
        self.run_id = run_id
        self.journal = journal
        self.ledger = ledger
        self.network = network
        self.user_data = user_data
        self.is_run_sent = False
        self.attempts: list[str] = []
        self._purchases = 0

    def rent(self) -> Rental:
        """Buy one instance.

        Raises:
            ProvisionError: listing every type and zone tried and why it
                failed, or naming max_price when the price was the reason.
        """
        for instance_type in self.profile.aliyun.instance_types:
            try:
                rental = self._rent_type(instance_type)
            except CapacityError as exc:
                self.attempts.append(f"{instance_type}: {exc.code}")
                continue
            except NoOfferError as exc:
                self.attempts.append(f"{instance_type}: {exc.message}")
                continue
            if rental is not None:
                return rental
        raise nothing_rented(self.profile, self.attempts)

    def _rent_type(self, instance_type: str) -> Rental | None:
        spot = self.profile.aliyun.spot
        zones = zones_with_stock(self.api, instance_type, spot=spot)
        if not zones:
            self.attempts.append(f"{instance_type}: no zone has stock")
            return None
        image = choose_image(self.api, self.profile, instance_type)
        for zone_id in zones:
            price = quote_price(
                self.api,
                instance_type=instance_type,
                zone_id=zone_id,
                image_id=image.image_id,
                spot=spot,
            )
            refusal = over_budget(self.profile, price)
            if refusal:
                self.attempts.append(f"{instance_type}: {refusal}")
                return None
            try:
                return self._buy(instance_type, zone_id, image, price)
            except CapacityError as exc:
                log.warning("%s in %s: %s, trying on", instance_type, zone_id, exc.code)
                self.attempts.append(f"{instance_type} in {zone_id}: {exc.code}")
        return None

    def _buy(
        self, instance_type: str, zone_id: str, image: ImageChoice, price: Price
    ) -> Rental:
        network = self.network.for_zone(zone_id)
        self._purchases += 1
        token = f"sp-{self.run_id}-{self._purchases}"[:64]
        params = self._run_params(instance_type, network, image, token)
        self.journal.record_token(token, action="RunInstances")
        self.is_run_sent = True
        body = self.api.call("RunInstances", params)
        instance_id = str(body["InstanceIdSets"]["InstanceIdSet"][0])
        self.ledger.add("instance", instance_id)
        log.info(
            "rented %s (%s, %s, image %s)",
            instance_id,
            instance_type,
            zone_id,
            image.name,
        )
        return Rental(
            instance_id=instance_id,
            instance_type=instance_type,
            image=image,
            price=price,
            network=network,
            auto_release_time=str(params["AutoReleaseTime"]),
            attempts=tuple(self.attempts),
        )

    def _run_params(
        self, instance_type: str, network: Network, image: ImageChoice, token: str
    ) -> dict[str, Any]:
        spec = self.profile.aliyun
        release_at = datetime.now(UTC) + timedelta(seconds=spec.max_lifetime_s)
        return {
            "ZoneId": network.zone_id,
            "InstanceType": instance_type,
            "ImageId": image.image_id,
            "SecurityGroupId": network.security_group_id,
            "VSwitchId": network.vswitch_id,
            "InstanceName": f"siteproof-{self.run_id}",
            "InstanceChargeType": "PostPaid",
            "SpotStrategy": "SpotAsPriceGo" if spec.spot else "NoSpot",
            "InternetChargeType": "PayByTraffic",
            "InternetMaxBandwidthOut": BANDWIDTH_MBPS,
            "SystemDisk": dict(SYSTEM_DISK),
            "KeyPairName": f"siteproof-{self.run_id}",
            "UserData": self.user_data,
            "AutoReleaseTime": release_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Amount": 1,
            "ClientToken": token,
            "Tag": [{"Key": RUN_TAG, "Value": self.run_id}],
        }


def over_budget(profile: SiteProfile, price: Price) -> str:
    """Return why this price breaks ``[aliyun] max_price``, or "" when it fits.

    The budget is compared with the most the run can cost: the hourly price
    for the whole ``max_lifetime``, after which the instance deletes itself.
    """
    spec = profile.aliyun
    worst = price.for_seconds(spec.max_lifetime_s)
    hours = spec.max_lifetime_s / 3600
    log.info(
        "price %.4f %s/hour, at most %.2f %s for the %.1f h lifetime",
        price.hourly,
        price.currency,
        worst,
        price.currency,
        hours,
    )
    if spec.max_price is None or worst <= spec.max_price:
        return ""
    return (
        f"up to {worst:.2f} {price.currency} ({price.hourly:.4f}/h for "
        f"{hours:.1f} h) exceeds max_price {spec.max_price:.2f}"
    )


def nothing_rented(profile: SiteProfile, attempts: list[str]) -> ProvisionError:
    """Return the error for a run that could rent nothing."""
    tried = "; ".join(attempts) or "no instance types configured"
    if attempts and all("max_price" in attempt for attempt in attempts):
        return ProvisionError(
            f"every instance type would cost more than [aliyun] max_price: {tried}",
            hint="raise [aliyun] max_price, shorten max_lifetime or add cheaper types",
        )
    return ProvisionError(
        f"no ARM instance could be rented in {profile.aliyun.region}: {tried}",
        hint="try later, another region, or more [aliyun] instance_types",
    )
