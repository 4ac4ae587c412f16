"""A delivery bundle, copied to a fresh test host, installs with install.sh alone."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siteproof.bundle import Bundle, write_bundle
from siteproof.site import parse_profile
from support.delivery import scp_to, ssh_run
from support.images import HTTPD_TAG, INDEX_HTML
from support.testhosts import TestHost, host_run

pytestmark = [pytest.mark.ssh, pytest.mark.docker, pytest.mark.slow]

PORT = 18080
PART_SIZE = 512 * 1024  # forces a ~2 MB tarball into several parts


@pytest.fixture(scope="module")
def fresh_host(test_host_factory: Callable[..., TestHost]) -> Iterator[TestHost]:
    """A new host with an empty engine; the image and container go afterwards."""
    host = test_host_factory()
    yield host
    host_run(host, ["docker", "rm", "-f", "httpd-arm64"], check=False)
    host_run(host, ["docker", "rmi", "-f", HTTPD_TAG], check=False)


@pytest.fixture(scope="module")
def bundle(
    httpd_arm64_docker_save_tar: Path, tmp_path_factory: pytest.TempPathFactory
) -> Bundle:
    profile = parse_profile(
        {
            "site": {"platform": "linux/arm64", "docker": "20.10", "page_size": "4k"},
            "run": {
                "image": HTTPD_TAG,
                "ports": [f"{PORT}:8080"],
                "env": {"TZ": "Asia/Shanghai"},
                "restart": "unless-stopped",
            },
        },
        source="site.toml",
        name="test-site",
    )
    folder = tmp_path_factory.mktemp("bundle") / "delivery"
    return write_bundle(
        httpd_arm64_docker_save_tar, folder, profile, part_size=PART_SIZE
    )


def _remote_folder(host: TestHost) -> str:
    path = f"/tmp/sp-delivery-{uuid.uuid4().hex[:10]}"
    ssh_run(host, f"mkdir {path}")
    return path


def _copy(host: TestHost, bundle: Bundle) -> str:
    """Copy the bundle to a new folder on the host with scp; return the folder."""
    remote = _remote_folder(host)
    scp_to(host, sorted(bundle.folder.iterdir()), remote)
    return remote


@pytest.fixture(scope="module")
def remote_copies(fresh_host: TestHost) -> Iterator[list[str]]:
    """Folders the tests copied the bundle to; removed afterwards."""
    folders: list[str] = []
    yield folders
    for folder in folders:
        ssh_run(fresh_host, f"rm -rf {folder}")


@pytest.fixture(scope="module")
def installed(
    fresh_host: TestHost, bundle: Bundle, remote_copies: list[str]
) -> tuple[str, str]:
    """Copy the bundle and run its install.sh once; return (stdout, folder)."""
    remote = _copy(fresh_host, bundle)
    remote_copies.append(remote)
    result = ssh_run(fresh_host, f"cd / && sh {remote}/install.sh")
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode(), remote


def _get(host: TestHost, url: str, timeout_s: float = 30.0) -> str:
    """Fetch *url* inside the host's namespace with busybox wget, retrying."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = host_run(host, ["busybox", "wget", "-qO-", url], check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result.stdout
        time.sleep(0.5)


def test_bundle_with_a_damaged_part_refuses_to_install(
    fresh_host: TestHost, bundle: Bundle, remote_copies: list[str]
) -> None:
    assert len(bundle.parts) >= 3
    before = host_run(fresh_host, "docker images -q").stdout
    remote = _copy(fresh_host, bundle)
    remote_copies.append(remote)
    damage = f"printf X | dd of={remote}/{bundle.parts[1]} conv=notrunc"
    ssh_run(fresh_host, damage + " 2>/dev/null")
    result = ssh_run(fresh_host, f"sh {remote}/install.sh")
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert f"{bundle.parts[1]}: FAILED" in stderr
    assert "the delivery is damaged or incomplete" in stderr
    assert b"docker load" not in result.stdout
    assert host_run(fresh_host, "docker images -q").stdout == before


def test_bundle_installs_and_runs_on_a_fresh_host_with_install_sh_alone(
    fresh_host: TestHost, bundle: Bundle, installed: tuple[str, str]
) -> None:
    output, _ = installed
    assert f"joining {len(bundle.parts)} parts" in output
    assert f"Loaded image: {HTTPD_TAG}" in output
    assert "docker run -d --pull never --name httpd-arm64" in output
    assert _get(fresh_host, f"http://127.0.0.1:{PORT}/") == INDEX_HTML.decode()
    policy = host_run(
        fresh_host,
        "docker inspect --format '{{.HostConfig.RestartPolicy.Name}} "
        "{{range .Config.Env}}{{.}} {{end}}' httpd-arm64",
    )
    assert policy.stdout.startswith("unless-stopped ")
    assert "TZ=Asia/Shanghai" in policy.stdout
    leftovers = ssh_run(fresh_host, "ls -d /var/tmp/siteproof.* 2>/dev/null")
    assert leftovers.stdout.strip() == b""


def test_bundle_install_again_needs_replace(
    fresh_host: TestHost, installed: tuple[str, str]
) -> None:
    _, remote = installed
    again = ssh_run(fresh_host, f"sh {remote}/install.sh")
    assert again.returncode == 1
    assert b"a container named httpd-arm64 exists already" in again.stderr
    replaced = ssh_run(fresh_host, f"REPLACE=1 sh {remote}/install.sh")
    assert replaced.returncode == 0, replaced.stderr.decode()
    assert b"removing the old container httpd-arm64" in replaced.stdout
    assert _get(fresh_host, f"http://127.0.0.1:{PORT}/") == INDEX_HTML.decode()
