"""The site probe script on a real test host, compared with what the host has."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siteproof import cli
from siteproof.errors import EXIT_INPUT
from siteproof.platforms import normalize_arch
from siteproof.probe import probe_script
from siteproof.site import SiteProfile, load_profile
from support.delivery import ssh_run
from support.images import HTTPD_TAG
from support.testhosts import TestHost, host_run

GREETING = 'say "hi" \\ <ok> & bye'


def _machine_cpu_flags() -> list[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith(("flags", "Features")):
            return line.partition(":")[2].split()
    return []


def _machine_selinux() -> str:
    enforce = Path("/sys/fs/selinux/enforce")
    if not enforce.exists():
        return "disabled"
    return "enforcing" if enforce.read_text().strip() == "1" else "permissive"


def _probe(host: TestHost, container: str, tmp_path: Path) -> tuple[str, SiteProfile]:
    """Run the probe on *host* over SSH (sh reads it from stdin); load the result."""
    script = probe_script(container).encode()
    result = ssh_run(host, "sh -s -- -", stdin=script)
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    path = tmp_path / "site.toml"
    path.write_text(text)
    return text, load_profile(str(path))


@pytest.fixture(scope="module")
def probe_host(test_host_factory: Callable[..., TestHost]) -> TestHost:
    """A test host of its own, so containers of other tests cannot interfere."""
    return test_host_factory()


@pytest.fixture(scope="module")
def site_container(
    probe_host: TestHost,
    httpd_arm64_docker_save_tar: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    """Run the arm64 httpd image on the host as a site would; yield (name, volume)."""
    name = f"sp-probe-{uuid.uuid4().hex[:8]}"
    volume = tmp_path_factory.mktemp("probe-volume")
    host_run(probe_host, ["docker", "load", "-i", str(httpd_arm64_docker_save_tar)])
    try:
        host_run(
            probe_host,
            [
                "docker", "run", "-d", "--pull", "never", "--name", name,
                "-p", "18080:8080", "-p", "127.0.0.1:18443:8443",
                "-e", "TZ=Asia/Shanghai", "-e", f"GREETING={GREETING}",
                "-v", f"{volume}:/data:ro", "--user", "1000",
                "--restart", "unless-stopped",
                HTTPD_TAG, "httpd", "-f", "-p", "8080", "-h", "/www",
            ],
        )  # fmt: skip
        yield name, volume
    finally:
        host_run(probe_host, ["docker", "rm", "-f", name], check=False)
        host_run(probe_host, ["docker", "rmi", "-f", HTTPD_TAG], check=False)


@pytest.mark.ssh
@pytest.mark.docker
@pytest.mark.slow
def test_probe_on_a_test_host_describes_the_machine(
    probe_host: TestHost, tmp_path: Path
) -> None:
    text, profile = _probe(probe_host, "", tmp_path)
    site = profile.site
    docker = host_run(probe_host, "docker version --format '{{.Server.Version}}'")
    driver = host_run(probe_host, "docker info --format '{{.Driver}}'")
    cgroup_v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    assert str(site.platform) == f"linux/{normalize_arch(os.uname().machine)}"
    assert f'docker = "{docker.stdout.strip()}"' in text
    assert site.docker == (20, 10)
    assert site.storage_driver == driver.stdout.strip()
    assert site.page_size == os.sysconf("SC_PAGESIZE")
    assert site.cgroup == ("v2" if cgroup_v2 else "v1")
    assert site.kernel == os.uname().release
    assert site.selinux == _machine_selinux()
    assert site.offline is True
    assert list(site.cpu_features) == _machine_cpu_flags()
    assert site.cpu_model
    assert "[run]" not in text


@pytest.mark.ssh
@pytest.mark.docker
@pytest.mark.slow
def test_probe_on_a_test_host_records_how_the_container_runs(
    probe_host: TestHost, site_container: tuple[str, Path], tmp_path: Path
) -> None:
    name, volume = site_container
    text, profile = _probe(probe_host, name, tmp_path)
    run = profile.run
    assert f"# How container {name} runs here now" in text
    assert run.image == HTTPD_TAG
    assert run.ports == ("18080:8080", "127.0.0.1:18443:8443")
    assert dict(run.env) == {"TZ": "Asia/Shanghai", "GREETING": GREETING}
    assert run.volumes == (f"{volume}:/data:ro",)
    assert run.user == "1000"
    assert run.restart == "unless-stopped"
    assert run.command == ("httpd", "-f", "-p", "8080", "-h", "/www")
    assert run.entrypoint is None
    assert run.workdir == ""


@pytest.mark.ssh
@pytest.mark.docker
@pytest.mark.slow
def test_probe_names_a_missing_container_and_writes_nothing(
    probe_host: TestHost,
) -> None:
    script = probe_script("no-such-container").encode()
    result = ssh_run(probe_host, "cd /tmp && sh -s -- probe-missing.toml", stdin=script)
    assert result.returncode == 1
    assert b"probe: no container named no-such-container" in result.stderr
    listing = ssh_run(probe_host, "ls /tmp/probe-missing.toml")
    assert listing.returncode != 0


@pytest.mark.docker
def test_probe_reads_offline_from_the_routing_table_here(tmp_path: Path) -> None:
    """The machine's own namespace: offline must follow its default routes."""
    routes = subprocess.run(
        "ip route show default; ip -6 route show default",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode:
        pytest.skip("no Docker engine on this machine")
    script = tmp_path / "probe.sh"
    script.write_text(probe_script())
    out = tmp_path / "site.toml"
    result = subprocess.run(
        ["sh", str(script), str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"probe: wrote {out}" in result.stderr
    assert load_profile(str(out)).site.offline is (routes.strip() == "")


def test_site_probe_command_prints_the_script_and_rejects_bad_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli._COMMANDS, "site", "siteproof.cli.site:site_group")
    assert cli.main(["site", "probe", "--container", "app-1"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#!/bin/sh\n")
    assert "\nCONTAINER=app-1\n" in script
    assert (
        subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode
        == 0
    )
    assert cli.main(["site", "probe", "--container", "a; rm -rf /"]) == EXIT_INPUT
    assert "is not a container name" in capsys.readouterr().err
