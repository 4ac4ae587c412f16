"""``verify A.tar B.tar --site s1 --site s2``: every tarball on every site.

Over SSH the sites share one real test host and take turns; on the cloud
(the emulator with real test hosts) each site rents its own instance, the
sites run side by side, and every instance is released.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from ecs_emulator import EmulatorHandle

from siteproof.cli import main
from siteproof.matrix import MatrixOptions, MatrixSite, run_matrix
from support.aliyun_cloud import FAST, calls, make_target
from support.testhosts import TestHost, host_run
from support.verify_images import leftovers, make_profile, runtime_tag

pytestmark = [pytest.mark.ssh, pytest.mark.docker, pytest.mark.slow]

ALIVE = '[[check]]\nalive = true\nsettle = "2s"\n'
SITE_FILE = """
[site]
platform = "linux/arm64"
docker = "20.10"
page_size = "{page_size}"
cgroup = "v1"
offline = true

[[check]]
alive = true
settle = "2s"
"""


def _site_file(folder: Path, name: str, page_size: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(SITE_FILE.format(page_size=page_size))
    return path


def test_verify_matrix_cli_runs_every_tarball_on_every_site(
    test_host: TestHost, runtime_images: dict[str, Path], tmp_path: Path
) -> None:
    good, crash = runtime_images["good"], runtime_images["crash"]
    sites = [_site_file(tmp_path, "kunpeng", "64k"), _site_file(tmp_path, "ft", "4k")]
    out = tmp_path / "out"

    code = main(
        [
            "verify",
            str(good),
            str(crash),
            *(f"--site={site}" for site in sites),
            f"--target={test_host.target}",
            f"--identity={test_host.client_key}",
            f"--known-hosts={test_host.known_hosts}",
            "--parallel=2",  # ignored: the sites share the one SSH host
            f"--report={out}",
        ]
    )
    document = json.loads((out / "matrix.json").read_text())
    runs = document["runs"]
    junit = ET.parse(out / "junit.xml").getroot()
    left = [
        item
        for entry in runs
        for item in leftovers(
            entry["report"]["run_id"],
            [runtime_tag("good"), runtime_tag("crash")],
            lambda command: host_run(test_host, command, check=False).stdout,
        )
    ]

    assert code == 1  # the worst: one image fails, nothing is left
    assert [(r["site"], Path(r["tarball"]).name, r["verdict"]) for r in runs] == [
        ("kunpeng", good.name, "pass"),
        ("kunpeng", crash.name, "fail"),
        ("ft", good.name, "pass"),
        ("ft", crash.name, "fail"),
    ]
    assert "alive" in runs[1]["reason"]
    assert len(junit.findall("testsuite")) == 4
    assert junit.get("failures") == "2"
    assert (out / "ft" / crash.stem / "report.json").is_file()
    assert (out / "kunpeng" / good.stem / "container.log").is_file()
    # The second tarball of a site reuses the site's open session.
    assert runs[1]["report"]["timings_s"]["connect"] < 0.2
    assert "result  exit 1 (2 pass, 2 fail)" in (out / "matrix.txt").read_text()
    assert left == []


def test_verify_matrix_one_instance_per_site_all_released(
    aliyun_emu_hosts: EmulatorHandle, runtime_images: dict[str, Path], tmp_path: Path
) -> None:
    # The first instance never opens SSH: its site is not judged and its
    # second tarball must not rent again; the other site runs both.
    aliyun_emu_hosts.faults.ssh_never_opens(times=1)
    deadlines = replace(FAST.deadlines, ssh_s=4.0)
    sites = [
        MatrixSite(
            name,
            profile := make_profile(ALIVE),
            make_target(
                aliyun_emu_hosts,
                profile,
                marker_dir=str(tmp_path / name),
                deadlines=deadlines,
            ),
        )
        for name in ("s1", "s2")
    ]
    tarballs = [runtime_images["good"], runtime_images["crash"]]

    matrix = run_matrix(tarballs, sites, MatrixOptions(parallel=2))
    verdicts = {
        site: [c.verdict for c in matrix.cells if c.site == site]
        for site in ("s1", "s2")
    }
    judged_on = {
        c.report.cloud["instance"]["instance_id"]
        for c in matrix.cells
        if c.report is not None and c.verdict != "error"
    }

    assert sorted(verdicts.values()) == [["error", "error"], ["pass", "fail"]]
    assert matrix.exit_code == 3  # not judged wins over a failed image
    assert len(calls(aliyun_emu_hosts, "RunInstances")) == 2
    assert len(judged_on) == 1  # both tarballs of a site on one instance
    assert len(calls(aliyun_emu_hosts, "DeleteInstance")) >= 2
    assert not matrix.leftovers
    # aliyun_emu_hosts then asserts that the emulator holds nothing.
