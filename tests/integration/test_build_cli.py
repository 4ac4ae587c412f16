"""``siteproof build`` on the real engine: a tiny arm64 image built under QEMU."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from siteproof.archive.index import open_archive
from siteproof.archive.layers import read_filesystem
from siteproof.build import Builder, build_image, check_engine, choose_builder
from siteproof.cli import main
from siteproof.inspect import inspect_tarball
from siteproof.site import load_profile
from support.images import busybox_binary, docker, require_docker
from support.verify_images import leftovers

pytestmark = [pytest.mark.docker]

RUN_ID = uuid.uuid4().hex[:8]
# The example context: FROM scratch, the busybox, a RUN step, httpd on 8080.
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "build" / "app"
FAILING = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo 'fatal: libfoo.so.1 not found' >&2; exit 7"]
"""
PULLING = "FROM siteproof-absent/base:0\nRUN true\n"


def _tag(name: str) -> str:
    return f"siteproof-build/{name}-{RUN_ID}:1"


def _in_engine(reference: str) -> bool:
    found = subprocess.run(
        ["docker", "image", "inspect", reference], capture_output=True, check=False
    )
    return found.returncode == 0


def _containers_of(tag: str) -> list[str]:
    listing = docker("ps", "-a", "--format", "{{.ID}} {{.Image}}")
    return [line for line in listing.splitlines() if line.endswith(" " + tag)]


@pytest.fixture(scope="module", autouse=True)
def _engine() -> None:
    require_docker()


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example context with the arm64 busybox, and two more Dockerfiles."""
    folder = tmp_path_factory.mktemp("build-context")
    for name in ("Dockerfile", "index.html"):
        shutil.copyfile(EXAMPLE / name, folder / name)
    shutil.copyfile(busybox_binary("arm64"), folder / "busybox")
    (folder / "busybox").chmod(0o755)
    (folder / "Failing.dockerfile").write_text(FAILING)
    (folder / "Pulling.dockerfile").write_text(PULLING)
    return folder


def _manifest_and_config(tarball: Path) -> tuple[list[dict[str, object]], dict]:
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    return manifest, config


@pytest.mark.slow
def test_build_cli_writes_arm64_docker_save_tarball_that_passes_inspect(
    context: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag, output = _tag("app"), tmp_path / "out" / "app.tar"

    code = main(
        [
            "build",
            str(context),
            "--site",
            "kylin-v10-arm64",
            "-t",
            tag,
            "-o",
            str(output),
        ]
    )

    shown = capsys.readouterr()
    assert code == 0, shown.err
    manifest, config = _manifest_and_config(output)
    assert manifest[0]["RepoTags"] == [tag]
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert config["config"]["Cmd"] == ["httpd", "-f", "-p", "8080", "-h", "/www"]
    assert shown.out.startswith("PASS")
    report = inspect_tarball(output, load_profile("kylin-v10-arm64"))
    assert report.passed, [f.code for f in report.findings]
    # The applet links exist only if the RUN step ran, under QEMU, as arm64.
    archive = open_archive(output)
    httpd = read_filesystem(archive, archive.images[0]).get("/bin/httpd")
    assert httpd is not None
    assert httpd.link_target == "/bin/busybox"
    assert not _in_engine(tag)


@pytest.mark.slow
def test_build_cli_verify_local_passes_and_leaves_nothing(
    context: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = tmp_path / "site.toml"
    site.write_text(
        '[site]\nplatform = "linux/arm64"\ndocker = "20.10"\npage_size = "64k"\n'
        f'[run]\nports = ["{port}:8080"]\n'
        '[[check]]\nalive = true\nsettle = "2s"\n'
        f'[[check]]\nhttp = "http://127.0.0.1:{port}/"\nbody = "hello from the site"\n'
        'within = "20s"\n'
    )
    tag, output, report = _tag("verified"), tmp_path / "app.tar", tmp_path / "report"

    code = main(
        [
            "build",
            str(context),
            "--site",
            str(site),
            "-t",
            tag,
            "-o",
            str(output),
            "--verify",
            "--target",
            "local",
            "--report",
            str(report),
        ]
    )

    assert code == 0, capsys.readouterr().err
    record = json.loads((report / "report.json").read_text())
    assert record["verdict"] == "pass"
    assert (report / "junit.xml").is_file()
    run_id = record["run_id"]
    assert leftovers(run_id, [tag], _shell) == []
    assert not _in_engine(tag)
    assert _containers_of(tag) == []


def _shell(command: str) -> str:
    return subprocess.run(
        command, shell=True, capture_output=True, text=True, check=False
    ).stdout


def test_build_cli_failing_run_step_exits_2_with_the_error_line(
    context: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag, output = _tag("failing"), tmp_path / "app.tar"

    code = main(
        [
            "build",
            str(context),
            "-f",
            str(context / "Failing.dockerfile"),
            "-t",
            tag,
            "-o",
            str(output),
        ]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert "error: the build of " + tag in err
    assert "fatal: libfoo.so.1 not found" in err
    assert "hint: fix the Dockerfile" in err
    assert not output.exists()
    assert not _in_engine(tag)
    assert _containers_of(tag) == []
    # A legacy build leaves finished steps as images; they must be gone too.
    steps = re.findall(r"\|\s+---> ([0-9a-f]{12})$", err, re.MULTILINE)
    if choose_builder("docker", check_engine("docker")) is Builder.LEGACY:
        assert steps
    assert [step for step in steps if _in_engine(step)] == []


def test_build_cli_refuses_a_base_image_it_would_have_to_pull(
    context: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "build",
            str(context),
            "-f",
            str(context / "Pulling.dockerfile"),
            "-t",
            _tag("pulling"),
            "-o",
            str(tmp_path / "app.tar"),
        ]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert "base image siteproof-absent/base:0 is not in the local" in err


def test_build_cli_without_engine_exits_3(
    context: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")

    code = main(
        ["build", str(context), "-t", _tag("noengine"), "-o", str(tmp_path / "app.tar")]
    )

    assert code == 3
    assert "error: the Docker engine does not answer" in capsys.readouterr().err


def _old_client() -> str:
    """Return Debian's docker.io client when it has BuildKit built in."""
    client = "/usr/bin/docker"
    if not os.access(client, os.X_OK) or check_engine(client)[0] >= 23:
        pytest.skip("no Docker client before 23 with built-in BuildKit")
    return client


@pytest.mark.slow
def test_build_image_uses_builtin_buildkit_of_an_old_client(
    context: Path, tmp_path: Path
) -> None:
    client = _old_client()
    tag = _tag("buildkit")

    assert choose_builder(client, check_engine(client)) in {
        Builder.BUILDKIT,
        Builder.BUILDX,
    }
    output = build_image(
        context,
        load_profile("kylin-v10-arm64"),
        tag=tag,
        output=tmp_path / "app.tar",
        docker=client,
    )

    _, config = _manifest_and_config(output)
    assert config["architecture"] == "arm64"
    assert inspect_tarball(output, load_profile("kylin-v10-arm64")).passed
    assert not _in_engine(tag)
