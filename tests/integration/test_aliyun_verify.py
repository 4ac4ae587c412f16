"""verify on a rented (emulated) instance: the whole pipeline, then nothing left.

The instance is a real test host built by the emulator's host factory, so
upload, docker load, docker run and the checks all happen for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ecs_emulator import EmulatorHandle

from siteproof.pipeline import VerifyOptions, verify
from siteproof.report.verify import Verdict
from support.aliyun_cloud import make_target
from support.verify_images import make_profile

pytestmark = [pytest.mark.ssh, pytest.mark.docker, pytest.mark.slow]

ALIVE = '[[check]]\nalive = true\nsettle = "2s"\n'


@pytest.mark.parametrize(("case", "verdict"), [("good", "pass"), ("crash", "fail")])
def test_aliyun_verify_judges_the_image_on_a_rented_instance(
    aliyun_emu_hosts: EmulatorHandle,
    runtime_images: dict[str, Path],
    tmp_path: Path,
    case: str,
    verdict: str,
) -> None:
    profile = make_profile(ALIVE)
    target = make_target(aliyun_emu_hosts, profile, marker_dir=str(tmp_path / "m"))

    report = verify(runtime_images[case], profile, target, VerifyOptions())

    assert report.verdict is Verdict(verdict), report.reason
    assert not report.leftovers
    assert target.facts.instance_id
    assert target.facts.egress_cut  # an offline site
    assert target.facts.billed_s is not None
