"""Reports, tarballs and tools shared by the delivery tests (stamp, bundle, HTML)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from siteproof.archive.model import ArchiveFormat
from siteproof.archive.writer import ImageSpec, LayerBuilder, write_archive
from siteproof.checks.base import CheckResult, Status
from siteproof.findings import Finding, Severity
from siteproof.hostfacts import HostFacts
from siteproof.report.parity import parity_table
from siteproof.report.verify import Verdict, VerifyReport
from siteproof.site import SiteProfile, parse_profile
from support.testhosts import TestHost

SITE_DOCUMENT: dict[str, Any] = {
    "site": {
        "platform": "linux/arm64",
        "docker": "20.10",
        "page_size": "64k",
        "cgroup": "v1",
        "offline": True,
        "kernel": "4.19.90-24.4.v2101.ky10.aarch64",
        "selinux": "disabled",
        "cpu_features": ["fp", "asimd", "aes", "sha2", "crc32", "atomics"],
    },
    "run": {"image": "acme/app:1", "ports": ["8080:8080"]},
}

CONTAINER_LOG = (
    "starting acme app 1.4\n"
    "loading /app/config.yaml\n"
    "exec /app/start.sh: exec format error\n"
    "giving up\n"
)


def kylin_profile() -> SiteProfile:
    """Return a Kylin-like site profile with every parity axis set."""
    return parse_profile(SITE_DOCUMENT, source="kylin.toml", name="kylin")


def x86_host_facts() -> HostFacts:
    """Return the facts of an x86_64 verification host with QEMU for arm64."""
    return HostFacts(
        architecture="amd64",
        machine="x86_64",
        kernel="6.1.0-18-amd64",
        page_size=4096,
        cgroup="v2",
        selinux="disabled",
        cpu_model="Intel(R) Xeon(R) CPU",
        cpu_flags=("fpu", "sse2", "avx2"),
        qemu=("arm64",),
        docker_server="20.10.24+dfsg1",
        docker_client="20.10.24+dfsg1",
        storage_driver="overlay2",
        docker_root="/var/lib/docker",
        docker_free_bytes=40 * 1024**3,
        upload_free_bytes=40 * 1024**3,
        same_disk=True,
        is_root=True,
    )


def verify_report_dict(verdict: str = "fail") -> dict[str, Any]:
    """Return a verify report's JSON data, with parity, log and cost added."""
    failed = verdict == "fail"
    findings = (
        Finding(
            Severity.ERROR,
            "exec-format",
            "/app/start.sh is an x86-64 program; the arm64 site cannot run it",
            path="/app/start.sh",
            hint="rebuild it for the site: docker buildx build --platform linux/arm64",
        ),
        Finding(Severity.WARNING, "no-healthcheck", "the image has no HEALTHCHECK"),
    )
    checks = (
        CheckResult(
            "alive",
            Status.FAIL if failed else Status.PASS,
            "the container exited with code 1" if failed else "up 5 s",
            5.2,
        ),
        CheckResult(
            "http 127.0.0.1:8080/",
            Status.FAIL if failed else Status.PASS,
            "connection refused" if failed else "200 OK",
            30.0,
        ),
    )
    report = VerifyReport(
        verdict=Verdict(verdict),
        reason="alive: the container exited with code 1" if failed else "",
        tarball="dist/app-arm64.tar",
        sha256="ab" * 32,
        run_id="r-20261204-1",
        target="root@198.51.100.7:22",
        image="acme/app:1",
        image_platform="linux/arm64",
        emulated=True,
        findings=findings if failed else findings[1:],
        checks=checks,
        host=x86_host_facts(),
        loaded=("acme/app:1",),
        timings={"inspect": 1.5, "target": 40.0, "deploy": 12.25, "runtime": 35.0},
        evidence=("container.log", "inspect.json"),
    )
    document = report.to_dict()
    document["parity"] = parity_table(kylin_profile(), document["host"], isolated=True)
    document["log"] = CONTAINER_LOG
    document["cost"] = {"instance": "ecs.c8y.large", "currency": "CNY", "total": 0.21}
    return document


def tiny_tarball(path: Path, text: bytes = b"hello\n") -> Path:
    """Write a one-layer arm64 image tarball (no engine needed)."""
    layer = LayerBuilder().add_file("app/hello.txt", text)
    spec = ImageSpec(layers=(layer,), tags=("acme/app:1",), architecture="arm64")
    return write_archive(path, [spec], ArchiveFormat.DOCKER)


def chromium_binary() -> str:
    """Return Debian's chromium, or skip (fail when SITEPROOF_REQUIRE_DOCKER=1)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("SITEPROOF_REQUIRE_DOCKER") == "1":
        pytest.fail(f"SITEPROOF_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)
    return ""


def _ssh_options(host: TestHost) -> list[str]:
    return [
        "-i", str(host.client_key),
        "-o", f"UserKnownHostsFile={host.known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
    ]  # fmt: skip


def ssh_run(
    host: TestHost, command: str, *, stdin: bytes | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run *command* on the test host through the real OpenSSH client."""
    argv = ["ssh", *_ssh_options(host), "-p", str(host.port)]
    argv += [f"{host.user}@{host.address}", command]
    return subprocess.run(
        argv, input=stdin, capture_output=True, timeout=timeout_s, check=False
    )


def scp_to(host: TestHost, sources: Sequence[Path], destination: str) -> None:
    """Copy files to the test host with scp (as a courier's laptop would)."""
    argv = ["scp", "-q", *_ssh_options(host), "-P", str(host.port)]
    argv += [str(path) for path in sources]
    argv.append(f"{host.user}@{host.address}:{destination}")
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
