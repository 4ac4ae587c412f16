"""``verify --target local``: real tarballs on this machine's Docker engine."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from siteproof.checks import Status
from siteproof.cli import main
from siteproof.pipeline import VerifyOptions, verify
from siteproof.report.verify import Verdict, VerifyReport
from siteproof.site import SiteProfile
from siteproof.targets import TargetOptions, create_target
from support.images import require_docker
from support.testhosts import TestHost
from support.verify_images import RunRecord, leftovers, make_profile, runtime_tag

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Host port for the app: the shared engine serves other test sessions too.
PORT = _free_port()
PUBLISH = f'[run]\nports = ["{PORT}:8080"]\n'
ALIVE = '[[check]]\nalive = true\nsettle = "2s"\n'


@pytest.fixture(scope="module", autouse=True)
def _engine() -> None:
    require_docker()


def _local(command: str) -> str:
    return subprocess.run(
        command, shell=True, capture_output=True, text=True, check=False
    ).stdout


@pytest.fixture
def run() -> Iterator[RunRecord]:
    """A run id; after the test nothing of that run may be left on the host."""
    record = RunRecord()
    yield record
    assert record.leftovers(_local) == []


def _verify(
    tarball: Path, profile: SiteProfile, run: RunRecord, **options: object
) -> VerifyReport:
    target = create_target("local", TargetOptions())
    settings = VerifyOptions(run_id=run.run_id, **options)  # type: ignore[arg-type]
    return run.note(verify(tarball, profile, target, settings))


def _check(report: VerifyReport, name: str) -> tuple[Status, str]:
    found = [c for c in report.checks if c.name == name]
    assert found, f"no check {name} in {[c.name for c in report.checks]}"
    return found[0].status, found[0].detail


def test_verify_local_passes_arm64_httpd_under_qemu(
    runtime_images: dict[str, Path], run: RunRecord, tmp_path: Path
) -> None:
    profile = make_profile(
        PUBLISH + ALIVE + f'[[check]]\nhttp = "http://127.0.0.1:{PORT}/"\n'
        'body = "siteproof test image"\nwithin = "20s"\n'
    )
    report = _verify(runtime_images["good"], profile, run, report_dir=tmp_path)

    assert report.verdict is Verdict.PASS, report.reason
    assert report.emulated
    assert report.image_platform == "linux/arm64"
    assert report.image == runtime_tag("good")
    assert [c.name for c in report.checks] == [f"http 127.0.0.1:{PORT}/", "alive"]
    assert report.host is not None
    assert report.host.architecture == "amd64"
    assert set(report.timings) >= {"preflight", "upload", "load", "start", "teardown"}
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["verdict"] == "pass"
    assert saved["tarball"]["sha256"] == report.sha256
    inspect = json.loads((tmp_path / "docker-inspect.json").read_text())
    assert inspect["Config"]["Image"] == runtime_tag("good")
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert junit.get("failures") == "0"
    assert junit.get("tests") == "3"


def test_verify_local_default_checks_probe_published_port(
    runtime_images: dict[str, Path], run: RunRecord
) -> None:
    report = _verify(runtime_images["good"], make_profile(PUBLISH), run)

    assert report.verdict is Verdict.PASS, report.reason
    assert [c.name for c in report.checks] == [f"tcp {PORT}", "alive", "logs"]


FAIL_CASES = {
    # case: (site body, the check that fails, what its detail says)
    "crash": (PUBLISH + ALIVE, "alive", "exited with code 3: fatal: config missing"),
    "loop": (
        PUBLISH + 'restart = "always"\n' + ALIVE,
        "alive",
        "restart loop",
    ),
    "loopback": (
        PUBLISH + f'[[check]]\ntcp = {PORT}\nwithin = "4s"\n',
        f"tcp {PORT}",
        "listen on 0.0.0.0",
    ),
    "slow": (
        PUBLISH + f'[[check]]\nhttp = "http://127.0.0.1:{PORT}/"\nwithin = "4s"\n',
        f"http 127.0.0.1:{PORT}/",
        "not within 4 s",
    ),
    "forbidden_log": (
        PUBLISH + ALIVE + "[[check]]\nlogs = true\n",
        "logs",
        "forbidden Python traceback",
    ),
}


@pytest.mark.parametrize("case", sorted(FAIL_CASES))
def test_verify_local_fails_bad_runtime_image_with_reason(
    case: str, runtime_images: dict[str, Path], run: RunRecord
) -> None:
    body, check, detail = FAIL_CASES[case]
    report = _verify(runtime_images[case], make_profile(body), run)

    assert report.verdict is Verdict.FAIL
    status, text = _check(report, check)
    assert status is Status.FAIL
    assert detail in text
    assert detail in report.reason


def test_verify_local_fails_s390x_with_exec_format_error(
    runtime_images: dict[str, Path], run: RunRecord
) -> None:
    profile = make_profile(PUBLISH + ALIVE + "[[check]]\nlogs = true\n")
    report = _verify(runtime_images["s390x"], profile, run, no_preflight=True)

    assert report.verdict is Verdict.FAIL
    assert not report.emulated
    assert report.image_platform == "linux/s390x"
    assert "exec format error" in report.reason
    assert _check(report, "alive")[0] is Status.FAIL


def test_verify_local_preflight_error_fails_before_touching_the_host(
    runtime_images: dict[str, Path], run: RunRecord
) -> None:
    report = _verify(runtime_images["s390x"], make_profile(PUBLISH), run)

    assert report.verdict is Verdict.FAIL
    assert report.host is None
    assert report.checks == ()
    assert "upload" not in report.timings


@pytest.mark.ssh
@pytest.mark.parametrize(("offline", "verdict"), [(True, "fail"), (False, "pass")])
def test_verify_local_offline_site_cannot_reach_beyond_the_host(
    offline: bool,
    verdict: str,
    runtime_images: dict[str, Path],
    run: RunRecord,
    test_host: TestHost,
) -> None:
    # The test host's sshd is "the internet" here: it lives beyond this host.
    body = (
        PUBLISH + f'env = {{ FETCH_ADDR = "{test_host.address}", FETCH_PORT = "22" }}\n'
    )
    report = _verify(
        runtime_images["needs_network"],
        make_profile(body + ALIVE, offline=offline),
        run,
    )

    assert str(report.verdict) == verdict, report.reason
    if offline:
        assert "cannot fetch the model" in report.reason


def test_verify_local_interrupt_tears_down_everything(
    runtime_images: dict[str, Path], run: RunRecord
) -> None:
    def interrupt(phase: str) -> None:
        if phase == "checks":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _verify(runtime_images["good"], make_profile(PUBLISH), run, on_phase=interrupt)
    run.tags.append(runtime_tag("good"))  # the fixture asserts nothing is left


def test_verify_local_keep_leaves_container_running(
    runtime_images: dict[str, Path], run: RunRecord
) -> None:
    report = _verify(
        runtime_images["good"], make_profile(PUBLISH + ALIVE), run, keep=True
    )
    run_id = run.run_id
    try:
        assert report.verdict is Verdict.PASS, report.reason
        assert report.kept
        assert any(
            f"docker exec -it siteproof-{run_id} sh" in h for h in report.keep_hints
        )
        running = _local(f"docker ps -q --filter name=siteproof-{run_id}")
        assert running.strip()
    finally:
        _local(
            f"docker rm -f siteproof-{run_id}; docker network rm siteproof-{run_id};"
            f" iptables -S DOCKER-USER | grep -F 'siteproof run {run_id}'"
            " | sed 's/^-A/-D/' | xargs -r -L1 iptables;"
            f" docker rmi {runtime_tag('good')}; rm -rf /var/tmp/siteproof/{run_id}"
        )


def test_verify_cli_local_exit_code_and_json(
    runtime_images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[site]\nplatform = "linux/arm64"\ndocker = "20.10"\npage_size = "4k"\n'
        + PUBLISH
        + ALIVE
    )
    code = main(
        [
            *("verify", str(runtime_images["crash"]), "--site", str(site)),
            *("--target", "local", "--format", "json", "--report", str(tmp_path / "r")),
        ]
    )

    assert code == 1
    output = json.loads(capsys.readouterr().out)
    assert output["verdict"] == "fail"
    assert (tmp_path / "r" / "container.log").read_text().strip() == (
        "fatal: config missing"
    )
    assert leftovers(output["run_id"], [runtime_tag("crash")], _local) == []


def test_verify_cli_unreachable_ssh_host_exits_3(
    runtime_images: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            *("verify", str(runtime_images["good"]), "--site", "generic-arm64"),
            *("--target", "ssh://root@127.0.0.1:1"),
        ]
    )

    assert code == 3
    err = capsys.readouterr().err
    assert "127.0.0.1" in err
    assert "Traceback" not in err


def test_verify_cli_broken_engine_exits_3_and_names_it(
    runtime_images: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    code = main(
        [
            *("verify", str(runtime_images["good"]), "--site", "generic-arm64"),
            *("--target", "local", "--no-preflight"),
        ]
    )

    assert code == 3
    err = capsys.readouterr().err
    assert "error: the Docker engine on local does not answer" in err


def test_verify_cli_sigterm_cleans_up_and_exits_130(
    runtime_images: dict[str, Path], tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[site]\nplatform = "linux/arm64"\ndocker = "20.10"\npage_size = "4k"\n'
        + PUBLISH
        + f'[[check]]\nhttp = "http://127.0.0.1:{PORT}/"\nwithin = "60s"\n'
    )
    tag = runtime_tag("slow")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "siteproof", "verify"),
            *(str(runtime_images["slow"]), "--site", str(site), "--target", "local"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = _wait_for_container_of(tag)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == 130, err
    assert leftovers(run_id, [tag], _local) == []


def _wait_for_container_of(tag: str, timeout_s: float = 30.0) -> str:
    """Return the run id of the container started from *tag*, once it runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        label = _local(
            f"docker ps --filter ancestor={tag} "
            "--format '{{.Label \"siteproof.run\"}}'"
        ).strip()
        if label:
            return label
        time.sleep(0.2)
    raise AssertionError(f"no container of {tag} within {timeout_s} s")


def test_verify_local_docker_load_refusal_fails_the_image(
    httpd_arm64_zstd_tar: Path, run: RunRecord
) -> None:
    # An OCI-only tarball with zstd layers: engine 20.10 cannot load it.
    report = _verify(
        httpd_arm64_zstd_tar, make_profile(PUBLISH), run, no_preflight=True
    )

    assert report.verdict is Verdict.FAIL
    assert report.reason.startswith("docker load failed")
    assert report.checks == ()


def test_verify_local_creates_volume_folders_and_removes_only_new_ones(
    runtime_images: dict[str, Path], run: RunRecord, tmp_path: Path
) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    new_top = tmp_path / "new"
    volume = f"siteproof-test-{run.run_id}"
    body = PUBLISH + (
        f'volumes = ["{new_top}/data/www:/srv/www", "{existing}/logs:/srv/logs",'
        f' "{volume}:/srv/cache"]\n'
    )
    report = _verify(runtime_images["good"], make_profile(body + ALIVE), run)

    assert report.verdict is Verdict.PASS, report.reason
    assert not new_top.exists()
    assert existing.is_dir()
    assert not (existing / "logs").exists()
    assert _local(f"docker volume ls -q --filter name={volume}").strip() == ""


def test_verify_local_healthcheck_skips_an_image_without_one(
    runtime_images: dict[str, Path], run: RunRecord
) -> None:
    profile = make_profile(PUBLISH + "[[check]]\nhealthcheck = true\nwithin = '5s'\n")
    report = _verify(runtime_images["good"], profile, run)

    assert report.verdict is Verdict.PASS, report.reason
    assert _check(report, "healthcheck") == (
        Status.SKIP,
        "the image has no HEALTHCHECK",
    )


def test_verify_local_healthcheck_waits_for_healthy(
    runtime_images: dict[str, Path], run: RunRecord
) -> None:
    # Docker probes first after the default 30 s interval.
    profile = make_profile(PUBLISH + "[[check]]\nhealthcheck = true\nwithin = '50s'\n")
    report = _verify(runtime_images["healthy"], profile, run)

    assert report.verdict is Verdict.PASS, report.reason
    assert _check(report, "healthcheck") == (Status.PASS, "healthy")


def test_verify_cli_pass_writes_every_report_form_and_a_checkable_stamp(
    runtime_images: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SITEPROOF_CONFIG_DIR", str(tmp_path / "config"))
    assert main(["key", "init"]) == 0
    capsys.readouterr()
    tarball = tmp_path / "good.tar"
    tarball.write_bytes(runtime_images["good"].read_bytes())
    site = tmp_path / "site.toml"
    site.write_text(
        '[site]\nplatform = "linux/arm64"\ndocker = "20.10"\npage_size = "4k"\n'
        + PUBLISH
    )
    report_dir = tmp_path / "r"
    code = main(
        [
            *("verify", str(tarball), "--site", str(site), "--target", "local"),
            *("--format", "json", "--report", str(report_dir)),
        ]
    )
    output = json.loads(capsys.readouterr().out)

    assert code == 0
    for name in ("report.txt", "report.json", "junit.xml", "report.html", "summary.md"):
        assert (report_dir / name).stat().st_size > 0, name
    assert "PASS" in (report_dir / "summary.md").read_text()
    assert {row["axis"] for row in output["parity"]} >= {"architecture", "page size"}
    assert main(["stamp", "check", str(tarball)]) == 0
    tarball.write_bytes(tarball.read_bytes() + b"\0" * 512)
    assert main(["stamp", "check", str(tarball)]) == 1
    assert leftovers(output["run_id"], [runtime_tag("good")], _local) == []
