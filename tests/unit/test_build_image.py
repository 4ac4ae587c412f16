"""The parts of ``siteproof build`` that need no engine: inputs, command lines,
base-image detection and the rewrite for an older site Docker."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import pytest

from siteproof.archive.index import open_archive
from siteproof.archive.layers import read_filesystem
from siteproof.archive.model import ArchiveFormat, Compression
from siteproof.archive.writer import ImageSpec, LayerBuilder, write_archive
from siteproof.build import (
    Builder,
    BuildFailedError,
    BuildRequest,
    base_images,
    build_command_line,
    make_loadable,
    make_request,
    same_image_name,
)
from siteproof.cli.build import build_command, parse_build_args
from siteproof.errors import EXIT_INPUT, InputError
from siteproof.site import SiteProfile, load_profile

REQUEST = BuildRequest(
    context=Path("/src/app"),
    dockerfile=Path("/src/app/Dockerfile"),
    platform="linux/arm64",
    tag="acme/app:1.4",
    build_args={"VERSION": "1.4"},
)


def _site(docker: tuple[int, int]) -> SiteProfile:
    profile = load_profile("kylin-v10-arm64")
    return dataclasses.replace(
        profile, site=dataclasses.replace(profile.site, docker=docker)
    )


def test_base_images_skips_scratch_stages_and_arg_references() -> None:
    dockerfile = (
        "ARG BASE=debian:12\n"
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
        "RUN go build\n"
        "from build as test\n"
        "FROM ${BASE}\n"
        "FROM scratch\n"
        "FROM alpine:3.20\n"
        "COPY --from=build /app /app\n"
    )

    assert base_images(dockerfile) == ["golang:1.22", "alpine:3.20"]


def test_build_command_line_buildx_exports_to_the_engine_without_pull() -> None:
    argv, env = build_command_line("docker", Builder.BUILDX, REQUEST)

    assert argv[:3] == ["docker", "buildx", "build"]
    assert argv[argv.index("--platform") + 1] == "linux/arm64"
    assert argv[argv.index("--output") + 1] == "type=docker,name=acme/app:1.4"
    assert "--pull=false" in argv
    assert argv[argv.index("--build-arg") + 1] == "VERSION=1.4"
    assert argv[-1] == "/src/app"
    assert env == {}


@pytest.mark.parametrize(
    ("builder", "buildkit", "flag"),
    [(Builder.BUILDKIT, "1", "--progress=plain"), (Builder.LEGACY, "0", "--force-rm")],
)
def test_build_command_line_docker_build_sets_buildkit_switch(
    builder: Builder, buildkit: str, flag: str
) -> None:
    argv, env = build_command_line("/usr/bin/docker", builder, REQUEST)

    assert argv[:2] == ["/usr/bin/docker", "build"]
    assert argv[argv.index("-t") + 1] == "acme/app:1.4"
    assert argv[argv.index("-f") + 1] == "/src/app/Dockerfile"
    assert {"--pull=false", flag} <= set(argv)
    assert env == {"DOCKER_BUILDKIT": buildkit}


def test_make_request_defaults_to_context_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")

    request = make_request(tmp_path, _site((20, 10)), " a:1 ", None, {})

    assert request.dockerfile == tmp_path / "Dockerfile"
    assert (request.platform, request.tag) == ("linux/arm64", "a:1")


@pytest.mark.parametrize(
    ("folder", "dockerfile", "message"),
    [
        ("missing", None, "is not a folder"),
        (".", None, "no Dockerfile at"),
        (".", "Other.dockerfile", "no Dockerfile at"),
    ],
)
def test_make_request_rejects_missing_inputs(
    tmp_path: Path, folder: str, dockerfile: str | None, message: str
) -> None:
    chosen = tmp_path / dockerfile if dockerfile else None

    with pytest.raises(InputError, match=message):
        make_request(tmp_path / folder, _site((20, 10)), "a:1", chosen, {})


def test_build_failed_error_is_input_error_showing_output_tail() -> None:
    error = BuildFailedError(
        "the build failed (exit 1)", output_tail="  | boom", hint="fix it"
    )

    assert error.exit_code == EXIT_INPUT
    assert str(error).splitlines() == ["the build failed (exit 1)", "  | boom"]


def test_parse_build_args_keeps_equals_in_values() -> None:
    assert parse_build_args(("A=1", "URL=a=b", "EMPTY=")) == {
        "A": "1",
        "URL": "a=b",
        "EMPTY": "",
    }


@pytest.mark.parametrize("value", ["NOVALUE", "=1"])
def test_parse_build_args_rejects_non_pairs(value: str) -> None:
    with pytest.raises(InputError, match="is not KEY=VALUE"):
        parse_build_args((value,))


def test_same_image_name_normalizes_docker_hub_names() -> None:
    assert same_image_name("app", "docker.io/library/app:latest")
    assert not same_image_name("app:1", "app:2")


def _zstd_oci_tarball(path: Path) -> Path:
    layer = LayerBuilder().add_dir("www").add_file("www/index.html", b"hello\n")
    spec = ImageSpec(layers=(layer,), architecture="arm64", tags=("acme/app:1",))
    return write_archive(path, [spec], ArchiveFormat.OCI, compression=Compression.ZSTD)


def test_make_loadable_rewrites_zstd_oci_for_docker_20(tmp_path: Path) -> None:
    tarball = _zstd_oci_tarball(tmp_path / "app.tar")

    assert make_loadable(tarball, _site((20, 10)).site)

    archive = open_archive(tarball)
    (image,) = archive.images
    assert archive.format is ArchiveFormat.DOCKER
    assert [layer.compression for layer in image.layers] == [Compression.GZIP]
    assert image.tags == ("acme/app:1",)
    assert image.config.architecture == "arm64"
    page = read_filesystem(archive, image).get("/www/index.html")
    assert page is not None
    assert (page.size, page.head) == (6, b"hell")


def test_make_loadable_leaves_tarball_alone_for_docker_25(tmp_path: Path) -> None:
    tarball = _zstd_oci_tarball(tmp_path / "app.tar")
    before = tarball.read_bytes()

    assert not make_loadable(tarball, _site((25, 0)).site)

    assert tarball.read_bytes() == before


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "build"


def _ci_command(name: str, stand_in: Path) -> list[str]:
    """Return the arguments after ``siteproof build`` in a CI example."""
    lines = (EXAMPLES / name).read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if "siteproof build" in line)
    indent = len(lines[first]) - len(lines[first].lstrip())
    parts = [lines[first].split("siteproof build", 1)[1]]
    for line in lines[first + 1 :]:
        if not line.strip() or len(line) - len(line.lstrip()) != indent:
            break
        parts.append(line.strip())
    text = re.sub(r"\$[A-Z_]+", str(stand_in), " ".join(parts))
    return shlex.split(text)


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_examples_build_verify_and_publish_junit(name: str, tmp_path: Path) -> None:
    stand_in = tmp_path / "file"
    stand_in.write_text("")

    context = build_command.make_context("build", _ci_command(name, stand_in))

    assert context.params["then_verify"]
    assert context.params["report_dir"] == Path("report")
    assert "report/junit.xml" in (EXAMPLES / name).read_text()


def test_script_examples_use_only_build_flags_and_exit_codes() -> None:
    known = {opt for param in build_command.params for opt in param.opts}
    batch = (EXAMPLES / "build.bat").read_bytes()
    powershell = (EXAMPLES / "build.ps1").read_text()

    for text in (batch.decode(), powershell):
        flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text))
        assert flags <= known, flags - known
    assert batch.count(b"\r\n") == batch.count(b"\n")
    assert "%ERRORLEVEL%" in batch.decode()
    assert "[switch]$Verify" in powershell
    assert "$LASTEXITCODE" in powershell
