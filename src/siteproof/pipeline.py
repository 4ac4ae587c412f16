"""``verify`` as a library call: preflight, host, upload, load, run, check, clean up.

The pipeline never prints. It logs one INFO line per step and reports
progress through the callbacks in :class:`VerifyOptions`. Teardown runs in
``finally``, so it also runs on errors, Ctrl-C and (via the CLI) SIGTERM.

Getting the host is apart from using it: a :class:`HostLease` opens the
target once, :func:`verify_series` runs several tarballs one after another
over that one session, and the target is released once, after the last.
:func:`verify` is the one-tarball case.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siteproof.archive.model import Compression, Image
from siteproof.archive.streams import sha256_of_file
from siteproof.checks import CheckContext, CheckResult, build_checks, run_checks
from siteproof.checks.base import Status
from siteproof.deploy import (
    UPLOAD_ROOT,
    LoadedImages,
    LoadError,
    load_tarball,
    upload_tarball,
)
from siteproof.errors import InfraError, InputError, SiteproofError, TeardownError
from siteproof.findings import Finding
from siteproof.hostfacts import HostFacts, check_disk_space, gather_host_facts
from siteproof.platforms import normalize_arch
from siteproof.remote.base import ProgressCallback, Session
from siteproof.remote.docker import DockerEngine
from siteproof.report.parity import parity_table
from siteproof.report.verify import Verdict, VerifyReport, judge
from siteproof.report.writers import write_evidence, write_report
from siteproof.runtime import (
    StartedContainer,
    container_spec,
    isolate_network,
    prepare_volumes,
    start_container,
)
from siteproof.site import SiteProfile
from siteproof.targets.base import Target
from siteproof.teardown import Teardown

log = logging.getLogger(__name__)

# The report keeps the end of the container log; the evidence file has all.
LOG_KEPT_CHARS = 64 << 10

# How much room loaded layers take per byte of compressed layer blob.
_UNPACK_FACTOR = {Compression.NONE: 1, Compression.GZIP: 3, Compression.ZSTD: 3}


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """How to run verify.

    Attributes:
        report_dir: folder for the report and evidence; None writes nothing.
        keep: leave container, image and files on the host for a look.
        no_preflight: skip ``inspect`` (still hashes the tarball).
        run_id: names everything the run creates; generated when empty.
        on_phase: called with each phase's name as it starts.
        on_upload: called with (bytes sent, bytes total) during the upload.
    """

    report_dir: Path | None = None
    keep: bool = False
    no_preflight: bool = False
    run_id: str = ""
    on_phase: Callable[[str], None] | None = None
    on_upload: ProgressCallback | None = None


def new_run_id() -> str:
    """Return a run id such as ``20261204-154500-3fa9c2``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def verify(
    tarball: Path, profile: SiteProfile, target: Target, options: VerifyOptions
) -> VerifyReport:
    """Prove the tarball loads and runs on the target's host as the site runs it.

    Args:
        tarball: the ``docker save`` tarball, as it will be delivered.
        profile: the site: platform, ``[run]`` parameters, ``[[check]]``.
        target: where to run it (local, ssh, aliyun).
        options: report folder, ``--keep``, callbacks.

    Returns:
        the report; its verdict is ERROR when infrastructure failed.

    Raises:
        InputError: bad input (unreadable tarball, unknown image name).
        KeyboardInterrupt: after teardown, when interrupted.
    """
    return _Run(tarball, profile, HostLease(target), options).execute()


@dataclass(slots=True)
class HostLease:
    """A target opened at most once, shared by the runs made on its host.

    Attributes:
        target: the target to open and release.
        leftovers: what releasing the target could not give back.
    """

    target: Target
    leftovers: list[str] = field(default_factory=list)
    _session: Session | None = None
    _error: InfraError | None = None
    _is_opened: bool = False
    _is_released: bool = False

    @property
    def is_opened(self) -> bool:
        """Tell whether opening was tried (and so release is due)."""
        return self._is_opened

    def session(self) -> Session:
        """Open the target on first use; return the same session after.

        Raises:
            InfraError: when the host cannot be had; raised again on later
                calls without trying again.
        """
        if self._error is not None:
            raise self._error
        if self._session is None:
            self._is_opened = True
            try:
                self._session = self.target.open()
            except InfraError as exc:
                self._error = exc
                raise
        return self._session

    def release(self) -> list[str]:
        """Release the target once; return what could not be released."""
        if self._is_released:
            return []
        self._is_released = True
        try:
            self.target.release()
        except TeardownError as exc:
            self.leftovers += list(exc.resources) or [exc.message]
        return list(self.leftovers)


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """The runs of several tarballs on one host.

    Attributes:
        outcomes: per tarball, in order: its report, or the input error
            that stopped its run.
        leftovers: what releasing the host could not give back.
    """

    outcomes: tuple[VerifyReport | SiteproofError, ...]
    leftovers: tuple[str, ...] = ()


def verify_series(
    tarballs: Sequence[Path],
    profile: SiteProfile,
    target: Target,
    options: Sequence[VerifyOptions],
) -> SeriesResult:
    """Verify tarballs one after another on one host, then release it once.

    Each tarball gets its own upload, load, run, checks and teardown; the
    target is opened by the first run that needs it and released after the
    last, also on errors, Ctrl-C and SIGTERM.

    Args:
        tarballs: the tarballs, in the order to run them.
        profile: the site they are verified for.
        target: the host they share.
        options: one per tarball (report folder, run id, callbacks).

    Returns:
        the outcome of every tarball and what could not be released.

    Raises:
        KeyboardInterrupt: after teardown and release, when interrupted.
    """
    lease = HostLease(target)
    outcomes: list[VerifyReport | SiteproofError] = []
    last = len(tarballs) - 1
    try:
        for index, (tarball, option) in enumerate(zip(tarballs, options, strict=True)):
            run = _Run(tarball, profile, lease, option, is_last=index == last)
            try:
                outcomes.append(run.execute())
            except InputError as exc:
                log.error("%s: %s", tarball, exc.message)
                outcomes.append(exc)
    finally:
        lease.release()
    return SeriesResult(tuple(outcomes), tuple(lease.leftovers))


@dataclass(slots=True)
class _Run:
    """The state of one verify run while it goes through its phases."""

    tarball: Path
    profile: SiteProfile
    lease: HostLease
    options: VerifyOptions
    is_last: bool = True  # release the host after this run
    run_id: str = ""
    sha256: str = ""
    findings: tuple[Finding, ...] = ()
    layer_bytes: int = 0
    preflight_image: Image | None = None
    timings: dict[str, float] = field(default_factory=dict)
    teardown: Teardown = field(default_factory=Teardown)
    session: Session | None = None
    facts: HostFacts | None = None
    loaded: LoadedImages | None = None
    image: str = ""
    image_platform: str = ""
    emulated: bool = False
    checks: tuple[CheckResult, ...] = ()
    evidence: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    isolated: bool | None = None
    log_text: str = ""

    def execute(self) -> VerifyReport:
        self.run_id = self.options.run_id or new_run_id()
        log.info(
            "verify run %s: %s on %s", self.run_id, self.tarball, self.target.host.label
        )
        with self._phase("preflight"):
            self._preflight()
        preflight_verdict, preflight_reason = judge(self.findings, ())
        if preflight_verdict is Verdict.FAIL:
            if self.is_last and self.lease.is_opened:
                self._release()
            return self._report(preflight_verdict, preflight_reason)
        verdict, reason = Verdict.ERROR, ""
        try:
            verdict, reason = self._on_host()
        except InfraError as exc:
            reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
            log.debug("infrastructure failure", exc_info=True)
        finally:
            self._finish()
        reason += self._foreign_note(verdict)
        if self.leftovers and verdict is not Verdict.ERROR and not reason:
            reason = "could not remove: " + "; ".join(self.leftovers)
        return self._report(verdict, reason)

    @property
    def target(self) -> Target:
        return self.lease.target

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        if self.options.on_phase is not None:
            self.options.on_phase(name)
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + (
                time.monotonic() - started
            )

    def _preflight(self) -> None:
        if self.options.no_preflight:
            self.sha256 = sha256_of_file(self.tarball)
            self.layer_bytes = 2 * self.tarball.stat().st_size
            return
        from siteproof.inspect import inspect_tarball  # noqa: PLC0415 - heavy import

        report = inspect_tarball(self.tarball, self.profile)
        self.sha256, self.findings = report.sha256, report.findings
        self.preflight_image = report.image
        self.layer_bytes = sum(
            layer.size * _UNPACK_FACTOR.get(layer.compression, 4)
            for image in report.images
            for layer in image.layers
        )
        log.info(
            "preflight: %d finding(s), %d error(s)",
            len(report.findings),
            len(report.errors),
        )

    def _on_host(self) -> tuple[Verdict, str]:
        with self._phase("connect"):
            self.session = session = self.lease.session()
        engine = DockerEngine(session)
        with self._phase("facts"):
            self.facts = gather_host_facts(session, upload_dir=UPLOAD_ROOT)
            check_disk_space(
                self.facts,
                tarball_bytes=self.tarball.stat().st_size,
                layer_bytes=self.layer_bytes,
            )
        with self._phase("upload"):
            remote = upload_tarball(
                session,
                self.tarball,
                sha256=self.sha256,
                run_id=self.run_id,
                teardown=self.teardown,
                progress=self.options.on_upload,
            )
        with self._phase("load"):
            try:
                self.loaded = load_tarball(engine, remote, teardown=self.teardown)
            except LoadError as exc:
                return Verdict.FAIL, f"docker load failed: {exc.stderr_tail}"
        return self._run_container(session, engine)

    def _run_container(
        self, session: Session, engine: DockerEngine
    ) -> tuple[Verdict, str]:
        with self._phase("start"):
            started = self._start(session, engine)
        with self._phase("checks"):
            self.checks = tuple(self._run_checks(session, engine, started))
        with self._phase("evidence"):
            self._save_evidence(engine, started.name)
        return judge(self.findings, self.checks)

    def _start(self, session: Session, engine: DockerEngine) -> StartedContainer:
        self.image = self._image_to_run()
        document = self._image_document(engine)
        self._note_platform(document)
        network = ""
        if self.profile.site.offline:
            use_sudo = self.facts is not None and not self.facts.is_root
            network = isolate_network(
                session,
                run_id=self.run_id,
                teardown=self.teardown,
                use_sudo=use_sudo,
            )
            self.isolated = bool(network)
        prepare_volumes(session, self.profile.run.volumes, teardown=self.teardown)
        exposed = sorted((document.get("Config") or {}).get("ExposedPorts") or {})
        spec = container_spec(
            self.profile.run,
            image=self.image,
            name=f"siteproof-{self.run_id}",
            exposed_ports=exposed,
            network=network,
            run_id=self.run_id,
        )
        return start_container(engine, spec, teardown=self.teardown)

    def _image_to_run(self) -> str:
        wanted = self.profile.run.image
        reported = self.loaded.reported if self.loaded else ()
        if wanted:
            if wanted not in reported and f"{wanted}:latest" not in reported:
                raise InputError(
                    f"[run] image {wanted} is not in the tarball",
                    hint="the tarball holds: " + ", ".join(reported),
                )
            return wanted
        if len(reported) != 1:
            raise InputError(
                "the tarball holds several images; name one in [run] image",
                hint="the tarball holds: " + ", ".join(reported),
            )
        return reported[0]

    def _image_document(self, engine: DockerEngine) -> dict[str, Any]:
        """Return the image's platform and config, from preflight if it read it."""
        image = self.preflight_image
        if image is None or self.image not in (*image.tags, image.config_digest):
            return engine.inspect_image(self.image)
        config = image.config
        return {
            "Os": config.os,
            "Architecture": config.architecture,
            "Variant": config.variant,
            "Config": {"ExposedPorts": {key: {} for key in config.exposed_ports}},
        }

    def _note_platform(self, document: dict[str, Any]) -> None:
        arch = normalize_arch(str(document.get("Architecture") or ""))
        variant = str(document.get("Variant") or "")
        self.image_platform = f"{document.get('Os') or 'linux'}/{arch}" + (
            f"/{variant}" if variant else ""
        )
        facts = self.facts
        self.emulated = bool(
            facts and arch != facts.architecture and arch in facts.qemu
        )

    def _run_checks(
        self, session: Session, engine: DockerEngine, started: StartedContainer
    ) -> list[CheckResult]:
        context = CheckContext(
            session=session,
            engine=engine,
            container=started.name,
            started_at=started.started_at,
            start_error=started.start_error,
        )
        checks = build_checks(self.profile.checks, tcp_ports=started.tcp_ports)
        results = run_checks(checks, context)
        if started.start_error:
            # A container that never ran proves nothing, whatever answered on
            # its ports, so the run fails even when no alive check was asked.
            detail = "docker run failed: " + started.start_error.splitlines()[-1]
            results.insert(0, CheckResult("start", Status.FAIL, detail, 0.0))
        return results

    def _save_evidence(self, engine: DockerEngine, container: str) -> None:
        folder = self.options.report_dir
        if folder is None:
            return
        document = engine.inspect_container(container)
        logs = engine.read_logs(container) if document is not None else ""
        self.log_text = logs[-LOG_KEPT_CHARS:]
        files = {
            "docker-inspect.json": document or {},
            "container.log": logs,
            "host-facts.json": self.facts.to_dict() if self.facts else {},
            "checks.json": [check.to_dict() for check in self.checks],
        }
        for name, content in files.items():
            self.evidence.append(write_evidence(folder, name, content))

    def _finish(self) -> None:
        """Tear down (or keep), then release the target, whatever happened."""
        with self._phase("teardown"):
            if self.options.keep:
                log.info("keeping %s", ", ".join(self.teardown.describe()))
            else:
                self.leftovers += self.teardown.run(self.session)
            if self.is_last:
                self._release()

    def _release(self) -> None:
        self.leftovers += self.lease.release()

    def _foreign_note(self, verdict: Verdict) -> str:
        """Say so when the host could not execute the image's architecture."""
        arch = self.image_platform.split("/")[1] if "/" in self.image_platform else ""
        if verdict is not Verdict.FAIL or not arch or self.facts is None:
            return ""
        if self.facts.can_run(arch):
            return ""
        return f" (this {self.facts.machine} host has no QEMU handler for {arch})"

    def _keep_hints(self) -> tuple[str, ...]:
        if not self.options.keep or not self.teardown.resources:
            return ()
        host = self.target.host
        prefix = host.shell_prefix()
        name = f"siteproof-{self.run_id}"
        return (
            f"shell:  {host.shell_prefix(terminal=True)}docker exec -it {name} sh",
            f"logs:   {prefix}docker logs {name}",
            "left in place: " + ", ".join(self.teardown.describe()),
        )

    def _report(self, verdict: Verdict, reason: str) -> VerifyReport:
        report = VerifyReport(
            verdict=verdict,
            reason=reason,
            tarball=str(self.tarball),
            sha256=self.sha256,
            run_id=self.run_id,
            target=self.target.host.label,
            image=self.image,
            image_platform=self.image_platform,
            emulated=self.emulated,
            findings=self.findings,
            checks=self.checks,
            host=self.facts,
            loaded=self.loaded.reported if self.loaded else (),
            timings=dict(self.timings),
            leftovers=tuple(self.leftovers),
            kept=self.options.keep,
            keep_hints=self._keep_hints(),
            evidence=tuple(self.evidence),
            site=self.profile.to_dict(),
            parity=tuple(
                parity_table(
                    self.profile,
                    self.facts.to_dict() if self.facts else None,
                    isolated=self.isolated,
                )
            ),
            cloud=self.target.report_facts(),
            log=self.log_text,
            log_forbid=tuple(p for c in self.profile.checks for p in c.forbid),
        )
        if self.options.report_dir is not None:
            write_report(report, self.options.report_dir)
        log.info("verify %s: %s %s", self.run_id, str(verdict).upper(), reason)
        return report
