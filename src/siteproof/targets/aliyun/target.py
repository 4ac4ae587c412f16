"""``--target aliyun``: rent an ARM instance, hand out a session, release it.

The order of work is that of a careful operator: a fresh login key whose
public half alone is imported, a zone with stock and a site-matched image,
the price, the network pieces the run needs, exactly one instance (see
``provision``), then Running, the public IP, SSH with the host key we
installed, and the end of the first-boot script (see ``readiness``). An
offline site then loses outbound internet. Every resource is in the
journal the moment its id is known, and :meth:`AliyunTarget.release` gives
everything back on success, failure, Ctrl-C and SIGTERM alike.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from siteproof.errors import InputError, ProvisionError, TeardownError
from siteproof.journal import Journal, Resource, state_dir
from siteproof.remote.base import Session
from siteproof.signals import shielded_from_signals
from siteproof.site import SiteProfile
from siteproof.targets.aliyun.api import EcsApi, RetryPolicy, require_credentials
from siteproof.targets.aliyun.facts import AliyunFacts, site_axes
from siteproof.targets.aliyun.network import NetworkBuilder
from siteproof.targets.aliyun.offers import Price
from siteproof.targets.aliyun.provision import Rental, Renter
from siteproof.targets.aliyun.readiness import (
    SSH_USER,
    Login,
    SessionOpener,
    wait_for_first_boot,
    wait_for_public_ip,
    wait_for_ssh,
    wait_until_running,
)
from siteproof.targets.aliyun.release import (
    RUN_TAG,
    Ledger,
    ReleasePolicy,
    Releaser,
    find_run_instances,
)
from siteproof.targets.aliyun.userdata import (
    DEFAULT_MARKER_DIR,
    UserDataOptions,
    build_user_data,
    generate_ed25519,
    host_public_key,
)
from siteproof.targets.aliyun.waits import Deadlines, Waiter, WaitProgress
from siteproof.targets.base import Host, Target, TargetOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AliyunOptions:
    """How a run rents, waits and releases; the defaults suit the real cloud.

    Attributes:
        endpoint: API address overriding ``[aliyun] endpoint``.
        keep: leave the instance running after the run (``--keep``).
        marker_dir: where the first-boot script leaves its markers.
        ssh_connect_timeout_s: one SSH connection attempt.
    """

    endpoint: str = ""
    keep: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadlines: Deadlines = field(default_factory=Deadlines)
    release: ReleasePolicy = field(default_factory=ReleasePolicy)
    marker_dir: str = DEFAULT_MARKER_DIR
    ssh_connect_timeout_s: float = 10.0


def new_run_id() -> str:
    """Return a sortable, unique run id such as ``20261204-154512-a1b2c3``."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class AliyunTarget(Target):
    """A pay-as-you-go ARM instance on Alibaba Cloud ECS, rented for one run."""

    def __init__(
        self,
        profile: SiteProfile,
        *,
        options: AliyunOptions | None = None,
        progress: WaitProgress | None = None,
        session_opener: SessionOpener | None = None,
        run_id: str | None = None,
    ) -> None:
        """Prepare a run; nothing is rented before :meth:`open`.

        Args:
            profile: the site; ``[aliyun]`` says where and what to rent.
            options: endpoint, ``keep``, retries, deadlines.
            progress: called with (what we wait for, seconds so far).
            session_opener: ``open_session`` unless a test passes another.
            run_id: the run's id (default: a new one).
        """
        self.profile = profile
        self.options = options or AliyunOptions()
        self.run_id = run_id or new_run_id()
        self._progress = progress
        self._opener = session_opener
        self._api: EcsApi | None = None
        self._journal: Journal | None = None
        self._ledger = Ledger(None, profile.aliyun.region)
        self._network: NetworkBuilder | None = None
        self._renter: Renter | None = None
        self._login = generate_ed25519(f"siteproof-{self.run_id}")
        self._host_key = generate_ed25519()
        self._facts = AliyunFacts(run_id=self.run_id, region=profile.aliyun.region)
        self._session: Session | None = None
        self._rented_at: float | None = None
        self._is_released = False

    @classmethod
    def from_spec(cls, spec: str, options: TargetOptions) -> AliyunTarget:
        """Build from ``aliyun`` or ``aliyun:<region>`` and the command line.

        ``options.endpoint``, ``options.keep`` and ``options.progress`` come
        from the command line.

        Raises:
            InputError: when no site profile was given.
        """
        profile = options.profile
        if profile is None:
            raise InputError("--target aliyun needs a site profile (--site)")
        region = spec.partition(":")[2]
        if region:
            profile = replace(profile, aliyun=replace(profile.aliyun, region=region))
        aliyun = AliyunOptions(endpoint=options.endpoint, keep=options.keep)
        return cls(profile, options=aliyun, progress=options.progress)

    @property
    def endpoint(self) -> str:
        """Return the API address in use ("" for Alibaba Cloud's own)."""
        return self.options.endpoint or self.profile.aliyun.endpoint

    def report_facts(self) -> dict[str, Any]:
        """Return the instance, its price and the site axes it was chosen for."""
        return {
            "instance": self._facts.to_dict(),
            "site_axes": site_axes(self._facts, self.profile),
        }

    @property
    def facts(self) -> AliyunFacts:
        """Return what the report says about the instance so far."""
        return self._facts

    @property
    def host(self) -> Host:
        """Return the rented host (complete once :meth:`open` returned)."""
        return Host(
            "aliyun",
            self._facts.public_ip,
            22,
            SSH_USER,
            instance_id=self._facts.instance_id,
            identity=str(self._key_dir / "id_ed25519"),
            known_hosts=str(self._key_dir / "known_hosts"),
        )

    @property
    def _key_dir(self) -> Path:
        return state_dir() / "runs" / self.run_id

    def open(self) -> Session:
        """Rent an instance, wait until it is ready, and connect to it.

        Call :meth:`release` afterwards, also when this raises.

        Raises:
            ProvisionError: when no instance could be had or readied in time.
        """
        self.provision()
        self._session = wait_for_ssh(
            self._opener or _default_opener(),
            self._waiter(),
            instance_id=self._facts.instance_id,
            address=self._facts.public_ip,
            login=Login(
                identity=self._key_dir / "id_ed25519",
                known_hosts=self._key_dir / "known_hosts",
                connect_timeout_s=self.options.ssh_connect_timeout_s,
            ),
            deadline_s=self.options.deadlines.ssh_s,
        )
        wait_for_first_boot(
            self._session,
            self._waiter(),
            instance_id=self._facts.instance_id,
            marker_dir=self.options.marker_dir,
            deadline_s=self.options.deadlines.user_data_s,
        )
        if self.profile.site.offline:
            self._cut_egress()
        return self._session

    def provision(self) -> AliyunFacts:
        """Rent the instance and wait until it runs with a public IP.

        Raises:
            ProvisionError: when nothing could be rented or it never ran.
        """
        if self._facts.instance_id:
            return self._facts
        renter = self._start()
        self._import_key_pair()
        try:
            rental = renter.rent()
        finally:
            self._facts = replace(self._facts, attempts=tuple(renter.attempts))
        self._rented(rental)
        self._wait_until_reachable(rental)
        return self._facts

    def _start(self) -> Renter:
        spec = self.profile.aliyun
        require_credentials(f"ECS {spec.region}")
        api = EcsApi(
            region=spec.region, endpoint=self.endpoint, retry=self.options.retry
        )
        journal = Journal.start(self.run_id, region=spec.region, endpoint=self.endpoint)
        self._api, self._journal = api, journal
        self._ledger = Ledger(journal, spec.region)
        self._network = NetworkBuilder(
            api, self._ledger, run_id=self.run_id, ssh_from=spec.ssh_from
        )
        self._write_identity()
        log.info(
            "run %s: renting an ARM instance in %s%s",
            self.run_id,
            spec.region,
            f" via {self.endpoint}" if self.endpoint else "",
        )
        user_data = build_user_data(
            self._host_key,
            UserDataOptions(
                run_id=self.run_id,
                docker_version=spec.docker_version,
                marker_dir=self.options.marker_dir,
            ),
        )
        self._renter = Renter(
            api,
            self.profile,
            run_id=self.run_id,
            journal=journal,
            ledger=self._ledger,
            network=self._network,
            user_data=user_data,
        )
        return self._renter

    def _write_identity(self) -> None:
        self._key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        identity = self._key_dir / "id_ed25519"
        identity.touch(mode=0o600)
        identity.write_text(self._login.private_openssh, encoding="ascii")

    def _import_key_pair(self) -> None:
        assert self._api is not None
        name = f"siteproof-{self.run_id}"
        self._api.call(
            "ImportKeyPair",
            {
                "KeyPairName": name,
                "PublicKeyBody": self._login.public_line,
                "Tag": [{"Key": RUN_TAG, "Value": self.run_id}],
            },
        )
        self._ledger.add("key_pair", name)

    def _rented(self, rental: Rental) -> None:
        self._rented_at = time.monotonic()
        spec = self.profile.aliyun
        self._facts = replace(
            self._facts,
            instance_id=rental.instance_id,
            instance_type=rental.instance_type,
            zone_id=rental.network.zone_id,
            image_id=rental.image.image_id,
            image_name=rental.image.name,
            image_reason=rental.image.reason,
            expected_page_size=rental.image.page_size,
            spot=spec.spot,
            hourly_price=rental.price.hourly,
            currency=rental.price.currency,
            max_cost=rental.price.for_seconds(spec.max_lifetime_s),
            auto_release_time=rental.auto_release_time,
            default_network=rental.network.is_default,
            security_group_id=rental.network.security_group_id,
            rented_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def _wait_until_reachable(self, rental: Rental) -> None:
        assert self._api is not None
        deadlines = self.options.deadlines
        where = f"{rental.instance_type}, {rental.network.zone_id}"
        wait_until_running(
            self._api,
            self._waiter(),
            rental.instance_id,
            deadline_s=deadlines.running_s,
            where=where,
        )
        address = wait_for_public_ip(
            self._api,
            self._waiter(),
            rental.instance_id,
            deadline_s=deadlines.public_ip_s,
        )
        self._facts = replace(self._facts, public_ip=address)
        line = f"{address} {host_public_key(self._host_key)}\n"
        (self._key_dir / "known_hosts").write_text(line, encoding="ascii")
        log.info("instance %s is running at %s", rental.instance_id, address)

    def _waiter(self) -> Waiter:
        return Waiter(poll_s=self.options.deadlines.poll_s, progress=self._progress)

    def _cut_egress(self) -> None:
        assert self._network is not None
        self._network.cut_egress(self._facts.security_group_id)
        self._facts = replace(self._facts, egress_cut=True)

    def release(self) -> None:
        """Give back everything this run rented; safe to call twice.

        With ``keep`` the instance and what it needs stay; its
        ``AutoReleaseTime`` still deletes it in the end.

        Raises:
            TeardownError: naming every resource that could not be released.
        """
        if self._is_released or self._journal is None:
            return
        self._is_released = True
        self._close_session()
        if self.options.keep and self._facts.instance_id:
            self._journal.record_kept("--keep")
            log.warning(
                "kept instance %s: %s", self._facts.instance_id, self.login_hint()
            )
            return
        with shielded_from_signals():
            failed = self._release_all()
        self._finish_billing()
        shutil.rmtree(self._key_dir, ignore_errors=True)
        if failed:
            raise TeardownError(
                "could not release " + ", ".join(str(r) for r in failed),
                resources=[r.id for r in failed],
                hint="run `siteproof cleanup` later; instances delete themselves "
                f"at {self._facts.auto_release_time or 'their AutoReleaseTime'}",
            )
        self._journal.finish()
        log.info("released everything of run %s", self.run_id)

    def _release_all(self) -> list[Resource]:
        assert self._api is not None
        if self._renter is not None and self._renter.is_run_sent:
            self._adopt_tagged_instances(self._api)
        releaser = Releaser(
            self._api, policy=self.options.release, on_released=self._ledger.remove
        )
        return releaser.release(self._ledger.held())

    def _adopt_tagged_instances(self, api: EcsApi) -> None:
        """Find an instance whose RunInstances answer never reached us."""
        try:
            tagged = find_run_instances(api, self.run_id)
        except ProvisionError as exc:
            log.warning("cannot look for instances tagged with this run: %s", exc)
            return
        known = {r.id for r in self._ledger.held("instance")}
        for instance in tagged:
            if instance["InstanceId"] not in known:
                self._ledger.add("instance", str(instance["InstanceId"]))

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _finish_billing(self) -> None:
        if self._rented_at is None:
            return
        billed = time.monotonic() - self._rented_at
        price = Price(self._facts.hourly_price or 0.0, self._facts.currency)
        self._facts = replace(
            self._facts, billed_s=round(billed, 1), cost=price.for_seconds(billed)
        )
        log.info(
            "billed about %.0f s, %.4f %s", billed, self._facts.cost, price.currency
        )

    def login_hint(self) -> str:
        """Return the command that logs in to a kept instance."""
        return (
            f"ssh -i {self._key_dir / 'id_ed25519'} -o UserKnownHostsFile="
            f"{self._key_dir / 'known_hosts'} {SSH_USER}@{self._facts.public_ip}"
            f"  (deleted automatically at {self._facts.auto_release_time}; "
            "`siteproof cleanup` releases it sooner)"
        )


def _default_opener() -> SessionOpener:
    from siteproof.remote.session import open_session  # noqa: PLC0415 - lazy

    opener: SessionOpener = open_session
    return opener
