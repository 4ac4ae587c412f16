"""``verify --target ssh://...``: real tarballs on a real test host over SSH."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siteproof.checks import Status
from siteproof.cli import main
from siteproof.pipeline import VerifyOptions, verify
from siteproof.report.verify import Verdict, VerifyReport
from siteproof.site import SiteProfile
from siteproof.targets import TargetOptions, create_target
from support.testhosts import (
    TestHost,
    cut_connections,
    host_run,
    shape_link,
    unshape_link,
)
from support.verify_images import BannerServer, RunRecord, make_profile

pytestmark = [pytest.mark.ssh, pytest.mark.docker, pytest.mark.slow]

ALIVE = '[[check]]\nalive = true\nsettle = "2s"\n'
HTTP = '[[check]]\nhttp = "http://127.0.0.1:8080/"\nwithin = "{within}"\n'


def _on_host(host: TestHost) -> Callable[[str], str]:
    return lambda command: host_run(host, command, check=False).stdout


@pytest.fixture
def run(test_host: TestHost) -> Iterator[RunRecord]:
    """A run id; after the test nothing of that run may be left on the host."""
    record = RunRecord()
    yield record
    assert record.leftovers(_on_host(test_host)) == []


def _options(host: TestHost) -> TargetOptions:
    return TargetOptions(identity=host.client_key, known_hosts=host.known_hosts)


def _verify(
    host: TestHost,
    tarball: Path,
    profile: SiteProfile,
    run: RunRecord,
    **options: object,
) -> VerifyReport:
    target = create_target(host.target, _options(host))
    settings = VerifyOptions(run_id=run.run_id, **options)  # type: ignore[arg-type]
    return run.note(verify(tarball, profile, target, settings))


def _check(report: VerifyReport, name: str) -> tuple[Status, str]:
    found = [c for c in report.checks if c.name == name]
    assert found, f"no check {name} in {[c.name for c in report.checks]}"
    return found[0].status, found[0].detail


def test_verify_ssh_passes_real_docker_save_httpd_with_default_checks(
    test_host: TestHost,
    httpd_arm64_docker_save_tar: Path,
    run: RunRecord,
    tmp_path: Path,
) -> None:
    report = _verify(
        test_host,
        httpd_arm64_docker_save_tar,
        make_profile(),
        run,
        report_dir=tmp_path,
    )

    assert report.verdict is Verdict.PASS, report.reason
    assert report.target == f"root@{test_host.address}:22"
    assert report.emulated
    assert [c.name for c in report.checks] == ["tcp 8080", "alive", "logs"]
    facts = json.loads((tmp_path / "host-facts.json").read_text())
    assert facts["docker_server"].startswith("20.10")
    assert facts["qemu"] == ["arm64"]


def test_verify_ssh_http_check_goes_through_port_forwarding(
    test_host: TestHost, runtime_images: dict[str, Path], run: RunRecord
) -> None:
    profile = make_profile(HTTP.format(within="20s") + 'body = "siteproof test"\n')
    report = _verify(test_host, runtime_images["good"], profile, run)

    assert report.verdict is Verdict.PASS, report.reason
    assert _check(report, "http 127.0.0.1:8080/") == (Status.PASS, "status 200")


FAIL_CASES = {
    # case: (site body, the check that fails, what its detail says)
    "crash": (ALIVE, "alive", "exited with code 3: fatal: config missing"),
    "loop": ('[run]\nrestart = "always"\n' + ALIVE, "alive", "restart loop"),
    "loopback": (
        '[[check]]\ntcp = 8080\nwithin = "4s"\n',
        "tcp 8080",
        "listen on 0.0.0.0",
    ),
    "slow": (HTTP.format(within="4s"), "http 127.0.0.1:8080/", "not within 4 s"),
    "forbidden_log": (
        ALIVE + "[[check]]\nlogs = true\n",
        "logs",
        "forbidden Python traceback",
    ),
    "s390x": (ALIVE + "[[check]]\nlogs = true\n", "logs", "exec format error"),
}


@pytest.mark.parametrize("case", sorted(FAIL_CASES))
def test_verify_ssh_fails_bad_runtime_image_with_reason(
    case: str, test_host: TestHost, runtime_images: dict[str, Path], run: RunRecord
) -> None:
    body, check, detail = FAIL_CASES[case]
    report = _verify(
        test_host,
        runtime_images[case],
        make_profile(body),
        run,
        no_preflight=case == "s390x",
    )

    assert report.verdict is Verdict.FAIL
    status, text = _check(report, check)
    assert status is Status.FAIL
    assert detail in text
    assert detail in report.reason


@pytest.mark.parametrize(("offline", "verdict"), [(True, "fail"), (False, "pass")])
def test_verify_ssh_offline_site_blocks_the_internet(  # noqa: PLR0917
    offline: bool,
    verdict: str,
    test_host: TestHost,
    runtime_images: dict[str, Path],
    run: RunRecord,
    banner_server: BannerServer,
) -> None:
    # 198.51.100.1 is the far end of the host's only link: "the internet".
    env = f'FETCH_ADDR = "{banner_server.address}", FETCH_PORT = "{banner_server.port}"'
    profile = make_profile(f"[run]\nenv = {{ {env} }}\n" + ALIVE, offline=offline)
    report = _verify(test_host, runtime_images["needs_network"], profile, run)

    assert str(report.verdict) == verdict, report.reason
    assert banner_server.connections == (0 if offline else 1)
    if offline:
        assert "cannot fetch the model" in report.reason


def _cli(host: TestHost, tarball: Path, *extra: str) -> int:
    return main(
        [
            *("verify", str(tarball), "--site", "generic-arm64"),
            *("--target", host.target, "--no-preflight", *extra),
        ]
    )


def test_verify_ssh_wrong_key_exits_3_without_traceback(
    test_host: TestHost,
    runtime_images: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stranger = tmp_path / "id_stranger"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
        check=True,
    )
    code = _cli(
        test_host,
        runtime_images["good"],
        *("--identity", str(stranger), "--known-hosts", str(test_host.known_hosts)),
    )

    assert code == 3
    err = capsys.readouterr().err
    assert test_host.address in err
    assert "Traceback" not in err


def test_verify_ssh_changed_host_key_exits_3(
    test_host: TestHost,
    runtime_images: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = tmp_path / "other_host_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
        check=True,
    )
    known = tmp_path / "known_hosts"
    public = other.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"{test_host.address} {' '.join(public)}\n")
    code = _cli(
        test_host,
        runtime_images["good"],
        *("--identity", str(test_host.client_key), "--known-hosts", str(known)),
    )

    assert code == 3
    err = capsys.readouterr().err
    assert "host key" in err.lower()


def test_verify_ssh_passes_real_python_web_app(
    test_host: TestHost, python_app_arm64_tar: Path, run: RunRecord
) -> None:
    profile = make_profile(
        '[[check]]\nhttp = "http://127.0.0.1:8000/"\nwithin = "90s"\n'
        'body = "siteproof python app"\n' + ALIVE
    )
    report = _verify(test_host, python_app_arm64_tar, profile, run)

    assert report.verdict is Verdict.PASS, report.reason
    assert report.emulated
    assert _check(report, "http 127.0.0.1:8000/")[0] is Status.PASS


def test_verify_ssh_connection_cut_during_upload_resumes_or_cleans_up(
    test_host: TestHost,
    python_app_arm64_tar: Path,
    run: RunRecord,
) -> None:
    uploading = threading.Event()
    reports: list[VerifyReport] = []

    def on_phase(phase: str) -> None:
        if phase == "upload":
            uploading.set()

    def work() -> None:
        profile = make_profile(ALIVE)
        reports.append(
            _verify(test_host, python_app_arm64_tar, profile, run, on_phase=on_phase)
        )

    shape_link(test_host, "400mbit")  # about 4 s for the ~190 MB tarball
    try:
        worker = threading.Thread(target=work)
        worker.start()
        assert uploading.wait(60)
        time.sleep(1.5)
        assert cut_connections(test_host) > 0
        worker.join(180)
    finally:
        unshape_link(test_host)

    (report,) = reports
    assert report.verdict in (Verdict.PASS, Verdict.ERROR), report.reason
    if report.verdict is Verdict.ERROR:
        assert "connection" in report.reason.lower()
    # the run fixture asserts that nothing is left on the host
