"""Build an image for the site's platform into a tarball the site can load.

The build runs on the local Docker engine and never pulls: base images must
already be in the engine (``FROM scratch`` needs none). Three builders are
tried in order: the ``docker buildx`` plugin; the BuildKit built into Docker
clients before 23 (``DOCKER_BUILDKIT=1 docker build``); and, for a newer
client without buildx, the engine's legacy builder, which still honours
``--platform`` and runs foreign ``RUN`` steps under QEMU. The image is then
written with ``docker save``; when the result is a form the site's Docker
cannot load (zstd layers before 23, an OCI-only layout before 25) it is
rewritten with the project's archive writer.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from siteproof.archive.index import normalize_reference, open_archive
from siteproof.archive.layer_writer import BlobLayer, LayerSource, TarLayer
from siteproof.archive.model import ArchiveFormat, Compression
from siteproof.archive.streams import FileSlice
from siteproof.archive.writer import ImageSpec, read_images, write_archive
from siteproof.errors import CommandError, InfraError, InputError
from siteproof.site import SiteProfile, SiteSpec

log = logging.getLogger(__name__)

# The first Docker releases that load zstd layers and OCI-only archives.
DOCKER_LOADS_ZSTD = (23, 0)
DOCKER_LOADS_OCI = (25, 0)
# Docker clients from 23 on need the buildx plugin for BuildKit.
CLIENT_WITHOUT_BUILDKIT = 23
ZSTD = Compression.ZSTD
TAIL_LINES = 12
ENGINE_TIMEOUT_S = 30.0
SAVE_TIMEOUT_S = 3600.0

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)
_LEGACY_STEP_ID = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$")


class Builder(enum.Enum):
    """Which of Docker's builders runs the Dockerfile."""

    BUILDX = "buildx"  # the docker buildx plugin
    BUILDKIT = "buildkit"  # BuildKit built into Docker clients before 23
    LEGACY = "legacy"  # the engine's classic builder


class BuildFailedError(InputError):
    """The Dockerfile did not build; carries the last lines of its output."""

    def __init__(self, message: str, *, output_tail: str, hint: str | None) -> None:
        super().__init__(message, hint=hint)
        self.output_tail = output_tail

    def __str__(self) -> str:
        return (
            f"{self.message}\n{self.output_tail}" if self.output_tail else self.message
        )


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """One build, fully resolved: what the command line is made from."""

    context: Path
    dockerfile: Path
    platform: str
    tag: str
    build_args: Mapping[str, str] = field(default_factory=dict)


def build_image(
    context: Path,
    profile: SiteProfile,
    *,
    tag: str,
    output: Path,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    keep_image: bool = False,
    docker: str = "docker",
) -> Path:
    """Build *context* for the site's platform and save it as a tarball.

    Args:
        context: the build context folder.
        profile: the site; its platform and Docker version decide the build.
        tag: the image's name in the tarball (``repo:tag``).
        output: where the ``docker save`` tarball goes.
        dockerfile: default ``context/Dockerfile``.
        build_args: ``--build-arg`` values.
        keep_image: leave the built tag in the engine (it is removed otherwise).
        docker: the Docker client to run.

    Returns:
        *output*.

    Raises:
        InputError: a bad context, Dockerfile or base image.
        BuildFailedError: the Dockerfile failed to build (an input error).
        InfraError: no Docker client or engine, or ``docker save`` failed.
    """
    request = make_request(context, profile, tag, dockerfile, build_args or {})
    client_version = check_engine(docker)
    require_local_bases(docker, request.dockerfile)
    builder = choose_builder(docker, client_version)
    started = time.monotonic()
    try:
        run_build(docker, builder, request)
        log.info("built %s in %.1f s", tag, time.monotonic() - started)
        save_image(docker, tag, output)
    finally:
        if not keep_image:
            remove_image(docker, tag)
    make_loadable(output, profile.site)
    return output


def make_request(
    context: Path,
    profile: SiteProfile,
    tag: str,
    dockerfile: Path | None,
    build_args: Mapping[str, str],
) -> BuildRequest:
    """Check the inputs of a build and resolve the Dockerfile.

    Raises:
        InputError: the context or Dockerfile is missing, or the tag is empty.
    """
    if not context.is_dir():
        raise InputError(f"build context {context} is not a folder")
    chosen = dockerfile or context / "Dockerfile"
    if not chosen.is_file():
        raise InputError(f"no Dockerfile at {chosen}", hint="name one with -f FILE")
    if not tag.strip():
        raise InputError("the image needs a tag", hint="-t name:version")
    platform = str(profile.site.platform)
    return BuildRequest(context, chosen, platform, tag.strip(), dict(build_args))


def _run(
    argv: Sequence[str], *, timeout_s: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    log.debug("running %s", " ".join(argv))
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
        env=None if env is None else {**os.environ, **env},
    )


def check_engine(docker: str) -> tuple[int, int]:
    """Make sure the Docker engine answers; return the client's major.minor.

    Raises:
        InfraError: the client is missing or the engine does not answer.
    """
    fmt = "{{.Client.Version}} {{.Server.Version}}"
    try:
        result = _run([docker, "version", "--format", fmt], timeout_s=ENGINE_TIMEOUT_S)
    except FileNotFoundError:
        raise InfraError(
            f"no Docker client {docker!r} on this machine",
            hint="install Docker (Debian: apt-get install docker.io)",
        ) from None
    except subprocess.TimeoutExpired:
        raise InfraError(
            f"the Docker engine did not answer within {ENGINE_TIMEOUT_S:.0f} s"
        ) from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        raise InfraError(
            f"the Docker engine does not answer: {last}",
            hint="start dockerd, or point DOCKER_HOST at a running engine",
        )
    client, _, server = result.stdout.strip().partition(" ")
    log.debug("docker client %s, engine %s", client, server)
    return _major_minor(client)


def _major_minor(version: str) -> tuple[int, int]:
    numbers = re.findall(r"\d+", version)[:2]
    return (int(numbers[0]), int(numbers[1])) if len(numbers) == 2 else (0, 0)


def base_images(dockerfile_text: str) -> list[str]:
    """Return the images the ``FROM`` lines need from the engine.

    ``scratch``, earlier stage names and references built from ``ARG``
    values (which cannot be known here) are left out.
    """
    stages: set[str] = set()
    needed: list[str] = []
    for line in dockerfile_text.splitlines():
        match = _FROM.match(line)
        if not match:
            continue
        image, stage = match.group(1), match.group(2)
        if image.lower() != "scratch" and image not in stages and "$" not in image:
            needed.append(image)
        if stage:
            stages.add(stage)
    return needed


def require_local_bases(docker: str, dockerfile: Path) -> None:
    """Refuse a build whose base images would have to be pulled.

    Raises:
        InputError: a base image is not in the local engine.
    """
    for image in base_images(dockerfile.read_text(errors="replace")):
        found = _run([docker, "image", "inspect", image], timeout_s=ENGINE_TIMEOUT_S)
        if found.returncode != 0:
            raise InputError(
                f"base image {image} is not in the local Docker engine, and "
                "siteproof build never pulls",
                hint=f"docker load the {image} image for the site's platform first",
            )


def choose_builder(docker: str, client_version: tuple[int, int]) -> Builder:
    """Pick buildx when installed, else the client's own BuildKit, else legacy."""
    if _run([docker, "buildx", "version"], timeout_s=ENGINE_TIMEOUT_S).returncode == 0:
        return Builder.BUILDX
    if client_version[0] < CLIENT_WITHOUT_BUILDKIT:
        return Builder.BUILDKIT
    log.warning(
        "no docker buildx plugin for Docker client %d.%d; building with the "
        "engine's legacy builder",
        *client_version,
    )
    return Builder.LEGACY


def build_command_line(
    docker: str, builder: Builder, request: BuildRequest
) -> tuple[list[str], dict[str, str]]:
    """Return the build command and the environment it needs."""
    common = ["--platform", request.platform, "--pull=false"]
    common += ["-f", str(request.dockerfile)]
    for key, value in request.build_args.items():
        common += ["--build-arg", f"{key}={value}"]
    if builder is Builder.BUILDX:
        output = f"type=docker,name={request.tag}"
        argv = [docker, "buildx", "build", "--progress=plain", "--output", output]
        return [*argv, *common, str(request.context)], {}
    argv = [docker, "build", "-t", request.tag, *common]
    if builder is Builder.BUILDKIT:
        argv.append("--progress=plain")
        return [*argv, str(request.context)], {"DOCKER_BUILDKIT": "1"}
    # --force-rm: the legacy builder otherwise keeps a failed step's container.
    return [*argv, "--force-rm", str(request.context)], {"DOCKER_BUILDKIT": "0"}


def run_build(docker: str, builder: Builder, request: BuildRequest) -> None:
    """Run the build, streaming its output to the DEBUG log.

    Raises:
        BuildFailedError: the build failed and the engine still answers.
        InfraError: the engine stopped answering during the build.
    """
    argv, env = build_command_line(docker, builder, request)
    log.info("building %s for %s (%s)", request.tag, request.platform, builder.value)
    code, tail, last_step = _stream_build(argv, env)
    if code == 0:
        return
    check_engine(docker)
    if last_step:
        # A failed legacy build leaves its finished steps as untagged images;
        # without -f, rmi spares tagged images and images with children.
        _run([docker, "image", "rm", last_step], timeout_s=ENGINE_TIMEOUT_S)
    raise BuildFailedError(
        f"the build of {request.tag} from {request.dockerfile} failed (exit {code})",
        output_tail="\n".join(f"  | {line}" for line in tail),
        hint="fix the Dockerfile; run with -v for the whole build output",
    )


def _stream_build(
    argv: Sequence[str], env: Mapping[str, str]
) -> tuple[int, list[str], str]:
    """Run a build; return its exit code, last output lines and last legacy step."""
    log.debug("running %s", " ".join(argv))
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    last_step = ""
    with subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, **env},
    ) as process:
        for line in process.stdout or ():
            log.debug("build: %s", line.rstrip())
            tail.append(line.rstrip())
            step = _LEGACY_STEP_ID.match(line)
            last_step = step.group(1) if step else last_step
    return process.returncode, list(tail), last_step


def save_image(docker: str, tag: str, output: Path) -> None:
    """Write *tag* with ``docker save`` to *output*, atomically.

    Raises:
        CommandError: ``docker save`` failed.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    argv = [docker, "save", "-o", str(partial), tag]
    result = _run(argv, timeout_s=SAVE_TIMEOUT_S)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise CommandError(
            f"docker save of {tag} failed",
            command=" ".join(argv),
            exit_status=result.returncode,
            stderr_tail="\n".join(result.stderr.splitlines()[-TAIL_LINES:]),
        )
    os.replace(partial, output)
    log.info("saved %s to %s (%d bytes)", tag, output, output.stat().st_size)


def remove_image(docker: str, tag: str) -> None:
    """Remove *tag* from the engine; a failure is only logged."""
    result = _run([docker, "image", "rm", tag], timeout_s=ENGINE_TIMEOUT_S)
    if result.returncode == 0:
        log.debug("removed %s from the engine", tag)
    elif "No such image" not in result.stderr:
        log.warning("could not remove %s: %s", tag, result.stderr.strip())


def make_loadable(path: Path, site: SiteSpec) -> bool:
    """Rewrite *path* when the site's Docker could not load it as it is.

    zstd layers become gzip for Docker before 23, and an OCI-only archive
    becomes the ``docker save`` layout for Docker before 25.

    Returns:
        whether the tarball was rewritten.
    """
    archive = open_archive(path)
    layers = [layer for image in archive.images for layer in image.layers]
    has_zstd = any(layer.compression is Compression.ZSTD for layer in layers)
    needs_gzip = has_zstd and site.docker < DOCKER_LOADS_ZSTD
    needs_layout = (
        archive.format is ArchiveFormat.OCI and site.docker < DOCKER_LOADS_OCI
    )
    if not (needs_gzip or needs_layout):
        return False
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".unzstd-") as folder:
        specs = [_without_zstd(spec, Path(folder)) for spec in read_images(path)]
        write_archive(path, specs, ArchiveFormat.DOCKER, compression=Compression.GZIP)
    log.info("rewrote %s for Docker %s (gzip layers)", path, site.docker_text)
    return True


def _without_zstd(spec: ImageSpec, folder: Path) -> ImageSpec:
    """Swap zstd layer blobs for copies the writer recompresses as gzip."""
    layers: list[LayerSource] = []
    for source in spec.layers:
        if isinstance(source, BlobLayer) and source.layer.compression is ZSTD:
            layers.append(_extract_blob(source, folder))
        else:
            layers.append(source)
    return replace(spec, layers=tuple(layers))


def _extract_blob(source: BlobLayer, folder: Path) -> TarLayer:
    target = folder / source.layer.diff_id.replace(":", "-")
    with (
        FileSlice(source.archive, source.layer.offset, source.layer.size) as blob,
        target.open("wb") as sink,
    ):
        shutil.copyfileobj(blob, sink)
    return TarLayer(target)


def same_image_name(first: str, second: str) -> bool:
    """Tell whether two references name the same image (``a`` and ``a:latest``)."""
    return normalize_reference(first) == normalize_reference(second)
