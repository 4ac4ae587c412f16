"""Real image tarballs for tests and benchmarks, built once and cached.

Every builder is a plain function returning the tarball's Path, so bench
scripts can call them too; session-scoped pytest fixtures at the bottom wrap
them. Results are cached under ``tests/.cache/images`` keyed by the inputs
(Debian debs, this module, the archive writer), so a second run is instant.

Busybox roots come from Debian's busybox-static debs (arm64, s390x, amd64) in
``/var/cache/siteproof-tests/debs``. The "real" images go through the shared
Docker engine (``docker import`` / ``load`` / ``save``) and skopeo; the odd
and broken ones are written with :mod:`siteproof.archive.writer`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path

import pytest

from siteproof.archive import layer_writer, writer
from siteproof.archive.model import DEFAULT_PATH, ArchiveFormat, Compression
from siteproof.archive.writer import ImageSpec, IndexSpec, LayerBuilder, TarLayer

TESTS_DIR = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("SITEPROOF_IMAGE_CACHE", TESTS_DIR / ".cache/images"))
SHARED_CACHE = Path(
    os.environ.get("SITEPROOF_TEST_CACHE", "/var/cache/siteproof-tests")
)
DEBS_DIR = SHARED_CACHE / "debs"
PYTHON_ROOT = SHARED_CACHE / "python-root-arm64.tar"
PYTHON_ROOT_SCRIPT = TESTS_DIR.parent / "bench/make_python_root.sh"

HTTPD_PORT = 8080
HTTPD_CMD = ("httpd", "-f", "-v", "-p", str(HTTPD_PORT), "-h", "/www")
INDEX_HTML = b"<html><body>siteproof test image</body></html>\n"
PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = b"root:x:0:\napp:x:1000:\n"
START_SH = f"#!/bin/sh\nexec {' '.join(HTTPD_CMD)}\n".encode()
PYTHON_PORT = 8000
PYTHON_CMD = ("python3", "-m", "http.server", str(PYTHON_PORT), "--directory", "/app")
DOCKER_TIMEOUT_S = 300

# Tags of the good images; every bad image is tagged siteproof-test/<case>:1.
HTTPD_TAG = "siteproof-test/httpd-arm64:1"
SH_TAG = "siteproof-test/sh-arm64:1"
MULTI_ARCH_TAG = "siteproof-test/httpd-multi:1"
PYTHON_TAG = "siteproof-test/pyapp-arm64:1"


# Cache -----------------------------------------------------------------------


def _file_sha(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@cache
def _code_key() -> str:
    """Digest of the code that decides what the tarballs contain."""
    sha = hashlib.sha256()
    for source in (Path(__file__), Path(writer.__file__), Path(layer_writer.__file__)):
        sha.update(source.read_bytes())
    return sha.hexdigest()


def _cached(name: str, inputs: Sequence[str], build: Callable[[Path], None]) -> Path:
    """Return ``CACHE_DIR/<name>-<key>.tar``, running *build(path)* if absent.

    A file lock makes parallel test workers build each tarball once.
    """
    key = hashlib.sha256("\n".join([_code_key(), *inputs]).encode()).hexdigest()
    target = CACHE_DIR / f"{name}-{key[:16]}.tar"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            for stale in CACHE_DIR.glob(f"{name}-*.tar"):
                stale.unlink()
            partial = target.with_suffix(".partial")
            build(partial)
            partial.replace(target)
    return target


# Debian binaries -------------------------------------------------------------


def deb_path(package: str, arch: str) -> Path:
    """Return the cached ``.deb`` of *package*:*arch*, downloading it if missing."""
    found = sorted(DEBS_DIR.glob(f"{package}_*_{arch}.deb"))
    if not found:
        DEBS_DIR.mkdir(parents=True, exist_ok=True)
        _run(["apt-get", "download", f"{package}:{arch}"], cwd=DEBS_DIR)
        found = sorted(DEBS_DIR.glob(f"{package}_*_{arch}.deb"))
    if not found:
        raise FileNotFoundError(f"no {package}:{arch} deb in {DEBS_DIR}")
    return found[-1]


@cache
def deb_file(package: str, arch: str, member: str) -> Path:
    """Extract one file of a deb (e.g. ``bin/busybox``) into the cache."""
    deb = deb_path(package, arch)
    target = CACHE_DIR / "debs" / f"{deb.stem}" / member
    if not target.exists():
        data = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            handle = tar.extractfile("./" + member)
            if handle is None:
                raise FileNotFoundError(f"{member} is not a file in {deb}")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.write_bytes(handle.read())
            partial.replace(target)
    return target


def busybox_binary(arch: str) -> Path:
    """Return Debian's static busybox for *arch* (dpkg name: amd64, arm64, s390x)."""
    return deb_file("busybox-static", arch, "bin/busybox")


@cache
def busybox_applets() -> tuple[str, ...]:
    """List applet paths (``bin/sh``, ``usr/bin/wget``) with the amd64 busybox.

    Debian builds every architecture from one config, so the list is the same.
    """
    binary = busybox_binary("amd64")
    binary.chmod(0o755)
    listing = _run([str(binary), "--list-full"]).stdout
    return tuple(
        line for line in listing.split() if "/" in line and line != "bin/busybox"
    )


def busybox_root(arch: str, *, binary_arch: str | None = None) -> LayerBuilder:
    """Return a layer with busybox, its applet links, users, /tmp and /www.

    Args:
        arch: the architecture the root is for.
        binary_arch: put this architecture's busybox in instead (to fake a
            foreign binary inside an image labelled *arch*).
    """
    layer = LayerBuilder()
    for directory in (
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "etc",
        "www",
        "root",
        "home",
        "home/app",
    ):
        layer.add_dir(directory, mode=0o700 if directory == "root" else 0o755)
    layer.add_dir("tmp", mode=0o1777)
    layer.add_file("bin/busybox", busybox_binary(binary_arch or arch), mode=0o755)
    for applet in busybox_applets():
        layer.add_symlink(applet, "/bin/busybox")
    layer.add_file("etc/passwd", PASSWD)
    layer.add_file("etc/group", GROUP)
    layer.add_file("www/index.html", INDEX_HTML)
    return layer


def busybox_spec(
    arch: str, *, tags: Sequence[str] = (), **changes: object
) -> ImageSpec:
    """Return a spec of the busybox httpd image for *arch*; *changes* override."""
    spec = ImageSpec(
        layers=(busybox_root(arch),),
        tags=tuple(tags),
        architecture=arch,
        cmd=HTTPD_CMD,
        env=(f"PATH={DEFAULT_PATH}",),
        exposed_ports=(f"{HTTPD_PORT}/tcp",),
        labels={"org.siteproof.test": "busybox"},
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def busybox_rootfs_tar(arch: str) -> Path:
    """Return a plain tar of the busybox root for *arch* (for ``docker import``)."""

    def build(path: Path) -> None:
        with path.open("wb") as sink:
            busybox_root(arch).write_blob(sink, Compression.NONE)

    return _cached(f"busybox-rootfs-{arch}", _deb_keys(arch), build)


def _deb_keys(*arches: str) -> list[str]:
    return [_file_sha(deb_path("busybox-static", arch)) for arch in arches]


# Docker and skopeo -----------------------------------------------------------


def _run(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = DOCKER_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run a command; raise with its stderr when it fails."""
    result = subprocess.run(
        list(command),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result


def docker(*args: str, timeout: float = DOCKER_TIMEOUT_S) -> str:
    """Run the docker CLI against the machine's engine; return stdout."""
    return _run(["docker", *args], timeout=timeout).stdout.strip()


def docker_available() -> bool:
    """Tell whether a Docker engine answers on the default socket."""
    if shutil.which("docker") is None:
        return False
    try:
        docker("version", "--format", "{{.Server.Version}}", timeout=20)
    except (RuntimeError, subprocess.TimeoutExpired):
        return False
    return True


def require_docker() -> None:
    """Skip the test without an engine, or fail when SITEPROOF_REQUIRE_DOCKER=1."""
    if docker_available():
        return
    message = "no Docker engine answers on the default socket"
    if os.environ.get("SITEPROOF_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{message} (SITEPROOF_REQUIRE_DOCKER=1)")
    pytest.skip(message)


@contextlib.contextmanager
def loaded_image(archive: Path) -> Iterator[list[str]]:
    """``docker load`` *archive*; yield the loaded references; remove them after."""
    output = docker("load", "-i", str(archive))
    refs = [
        line.split(": ", 1)[1].strip()
        for line in output.splitlines()
        if line.startswith(("Loaded image: ", "Loaded image ID: "))
    ]
    try:
        yield refs
    finally:
        for ref in refs:
            subprocess.run(
                ["docker", "rmi", "-f", ref], capture_output=True, check=False
            )


@contextlib.contextmanager
def running_container(ref: str, port: int, *args: str) -> Iterator[str]:
    """Run *ref* detached with *port* published on loopback; yield its base URL.

    The container gets a unique name and is removed afterwards; *args* go
    after the image reference (a command override).
    """
    name = f"siteproof-test-{uuid.uuid4().hex[:12]}"
    docker(
        "run",
        "-d",
        "--pull",
        "never",
        "--name",
        name,
        "-p",
        f"127.0.0.1::{port}",
        ref,
        *args,
    )
    try:
        host_port = docker("port", name, f"{port}/tcp").splitlines()[0]
        yield "http://127.0.0.1:" + host_port.rsplit(":", 1)[1]
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _docker_import(rootfs: Path, tag: str, changes: Sequence[str]) -> None:
    command = ["import"]
    for change in changes:
        command += ["--change", change]
    docker(*command, str(rootfs), tag)


def httpd_arm64_docker_save() -> Path:
    """Real ``docker save`` (engine 20.10 layout) of the arm64 busybox httpd image.

    ``docker import`` labels it with the engine's architecture, so the saved
    tarball is rewritten to arm64 with the writer, loaded again, and saved
    again: the result is genuine engine output with an arm64 config.
    """

    def build(path: Path) -> None:
        scratch = f"siteproof-build/httpd-{uuid.uuid4().hex[:12]}:1"
        changes = [
            f"CMD {json.dumps(list(HTTPD_CMD))}",
            f"EXPOSE {HTTPD_PORT}/tcp",
            f"ENV PATH={DEFAULT_PATH}",
        ]
        with tempfile.TemporaryDirectory(dir=CACHE_DIR) as work:
            imported, fixed = Path(work, "imported.tar"), Path(work, "fixed.tar")
            try:
                _docker_import(busybox_rootfs_tar("arm64"), scratch, changes)
                docker("save", "-o", str(imported), scratch)
            finally:
                subprocess.run(
                    ["docker", "rmi", "-f", scratch], capture_output=True, check=False
                )
            specs = writer.read_images(imported)
            fixed_spec = dataclasses.replace(
                specs[0], architecture="arm64", tags=(HTTPD_TAG,)
            )
            writer.write_archive(fixed, [fixed_spec], ArchiveFormat.DOCKER)
            with loaded_image(fixed):
                docker("save", "-o", str(path), HTTPD_TAG)

    return _cached("httpd-arm64-docker-save", _deb_keys("arm64"), build)


def httpd_arm64_skopeo_oci() -> Path:
    """``skopeo copy docker-archive: oci-archive:`` of the docker save tarball."""
    source = httpd_arm64_docker_save()

    def build(path: Path) -> None:
        _run(
            [
                "skopeo",
                "copy",
                "--quiet",
                f"docker-archive:{source}",
                f"oci-archive:{path}:{HTTPD_TAG}",
            ]
        )

    return _cached("httpd-arm64-skopeo-oci", [_file_sha(source)], build)


def httpd_arm64_docker_oci() -> Path:
    """The docker save image rewritten in the Docker 25+ layout (OCI + manifest)."""
    source = httpd_arm64_docker_save()

    def build(path: Path) -> None:
        writer.rewrite_archive(source, path, ArchiveFormat.DOCKER_OCI)

    return _cached("httpd-arm64-docker-oci", [_file_sha(source)], build)


# Images written by the writer ------------------------------------------------


def _written(
    name: str,
    images: Callable[[], Sequence[ImageSpec | IndexSpec]],
    fmt: ArchiveFormat = ArchiveFormat.DOCKER,
    *,
    arches: Sequence[str] = ("arm64",),
    compression: Compression = Compression.NONE,
) -> Path:
    def build(path: Path) -> None:
        writer.write_archive(path, images(), fmt, compression=compression)

    return _cached(name, [fmt.value, compression.value, *_deb_keys(*arches)], build)


def httpd_arm64_zstd() -> Path:
    """The busybox httpd arm64 image, OCI layout, zstd layers (buildkit style)."""
    return _written(
        "httpd-arm64-zstd",
        lambda: [busybox_spec("arm64", tags=[HTTPD_TAG])],
        ArchiveFormat.OCI,
        compression=Compression.ZSTD,
    )


def httpd_arm64_gzip_docker_oci() -> Path:
    """The busybox httpd arm64 image, Docker 25+ layout, gzip layers."""
    return _written(
        "httpd-arm64-gzip",
        lambda: [busybox_spec("arm64", tags=[HTTPD_TAG])],
        ArchiveFormat.DOCKER_OCI,
        compression=Compression.GZIP,
    )


def multi_image() -> Path:
    """DOCKER layout with three arm64 images sharing the busybox base layer.

    ``siteproof-test/httpd-arm64:1`` (httpd), ``siteproof-test/sh-arm64:1``
    (a second layer with /app/hello.sh, Cmd that script) and one untagged image.
    """

    def images() -> list[ImageSpec]:
        base = busybox_root("arm64")
        app = (
            LayerBuilder()
            .add_dir("app")
            .add_file("app/hello.sh", b"#!/bin/sh\necho hello\n", mode=0o755)
        )
        return [
            busybox_spec("arm64", tags=[HTTPD_TAG], layers=(base,)),
            busybox_spec(
                "arm64",
                tags=[SH_TAG],
                layers=(base, app),
                cmd=("/app/hello.sh",),
                exposed_ports=(),
            ),
            busybox_spec("arm64", layers=(base,), cmd=("sh",), exposed_ports=()),
        ]

    return _written("multi-image", images)


def multi_platform_oci() -> Path:
    """OCI layout whose index.json points to a nested index: arm64, amd64, s390x."""

    def images() -> list[IndexSpec]:
        specs = [busybox_spec(arch) for arch in ("arm64", "amd64", "s390x")]
        return [IndexSpec(images=specs, tags=[MULTI_ARCH_TAG])]

    return _written(
        "multi-platform-oci",
        images,
        ArchiveFormat.OCI,
        arches=("arm64", "amd64", "s390x"),
    )


def untagged_image() -> Path:
    """DOCKER layout, one good arm64 httpd image without any tag."""
    return _written("untagged", lambda: [busybox_spec("arm64")])


def _bad(case: str, **changes: object) -> ImageSpec:
    return busybox_spec("arm64", tags=[f"siteproof-test/{case}:1"], **changes)


def _with_app(
    case: str, app: LayerBuilder, **changes: object
) -> Callable[[], list[ImageSpec]]:
    """Return a builder of the busybox image plus an /app layer."""
    return lambda: [_bad(case, layers=(busybox_root("arm64"), app), **changes)]


def _app_layer(name: str, data: bytes, mode: int = 0o755) -> LayerBuilder:
    return LayerBuilder().add_dir("app").add_file(f"app/{name}", data, mode=mode)


def bad_crlf_shebang() -> Path:
    """Entrypoint /app/start.sh written on Windows: ``#!/bin/sh\\r\\n``."""
    script = START_SH.replace(b"\n", b"\r\n")
    return _written(
        "bad-crlf-shebang",
        _with_app(
            "crlf-shebang",
            _app_layer("start.sh", script),
            entrypoint=("/app/start.sh",),
            cmd=(),
        ),
    )


def bad_foreign_binary() -> Path:
    """An image labelled arm64 whose /bin/busybox is the amd64 build."""
    return _written(
        "bad-foreign-binary",
        lambda: [
            _bad("foreign-binary", layers=(busybox_root("arm64", binary_arch="amd64"),))
        ],
        arches=("arm64", "amd64"),
    )


def bad_s390x() -> Path:
    """A real s390x busybox httpd image (QEMU is not registered for s390x)."""
    return _written(
        "bad-s390x",
        lambda: [busybox_spec("s390x", tags=["siteproof-test/s390x:1"])],
        arches=("s390x",),
    )


def bad_missing_interpreter() -> Path:
    """Entrypoint /app/run.py starts with ``#!/usr/bin/python3``; no python."""
    script = b"#!/usr/bin/python3\nprint('hello')\n"
    return _written(
        "bad-missing-interpreter",
        _with_app(
            "missing-interpreter",
            _app_layer("run.py", script),
            entrypoint=("/app/run.py",),
            cmd=(),
        ),
    )


def bad_missing_loader() -> Path:
    """Entrypoint is Debian's dynamic arm64 bash; no /lib/ld-linux-aarch64.so.1."""
    bash = deb_file("bash", "arm64", "bin/bash")
    app = LayerBuilder().add_dir("app").add_file("app/bash", bash, mode=0o755)

    def build(path: Path) -> None:
        spec = _bad(
            "missing-loader",
            layers=(busybox_root("arm64"), app),
            entrypoint=("/app/bash",),
            cmd=("-c", "echo hi"),
        )
        writer.write_archive(path, [spec], ArchiveFormat.DOCKER)

    return _cached("bad-missing-loader", [*_deb_keys("arm64"), _file_sha(bash)], build)


def bad_no_exec_bit() -> Path:
    """Entrypoint /app/start.sh has mode 0644."""
    return _written(
        "bad-no-exec-bit",
        _with_app(
            "no-exec-bit",
            _app_layer("start.sh", START_SH, 0o644),
            entrypoint=("/app/start.sh",),
            cmd=(),
        ),
    )


def bad_not_on_path() -> Path:
    """Cmd ``start-app`` lives in /opt/app/bin, which is not on PATH."""
    app = (
        LayerBuilder()
        .add_dir("opt")
        .add_dir("opt/app")
        .add_dir("opt/app/bin")
        .add_file("opt/app/bin/start-app", START_SH, mode=0o755)
    )
    return _written(
        "bad-not-on-path", _with_app("not-on-path", app, cmd=("start-app",))
    )


def bad_whiteout_entrypoint() -> Path:
    """Layer 2 adds /app/start.sh (the entrypoint), layer 3 whites it out."""

    def images() -> list[ImageSpec]:
        gone = LayerBuilder().add_whiteout("app/start.sh")
        layers = (busybox_root("arm64"), _app_layer("start.sh", START_SH), gone)
        return [
            _bad(
                "whiteout-entrypoint",
                layers=layers,
                entrypoint=("/app/start.sh",),
                cmd=(),
            )
        ]

    return _written("bad-whiteout-entrypoint", images)


def bad_opaque_entrypoint() -> Path:
    """Layer 3 makes /app opaque (keeping only /app/other), hiding the entrypoint."""

    def images() -> list[ImageSpec]:
        opaque = (
            LayerBuilder()
            .add_dir("app")
            .add_opaque("app")
            .add_file("app/other", b"other\n")
        )
        layers = (busybox_root("arm64"), _app_layer("start.sh", START_SH), opaque)
        return [
            _bad(
                "opaque-entrypoint",
                layers=layers,
                entrypoint=("/app/start.sh",),
                cmd=(),
            )
        ]

    return _written("bad-opaque-entrypoint", images)


def bad_unknown_user() -> Path:
    """USER ``appuser``, which /etc/passwd does not know."""
    return _written("bad-unknown-user", lambda: [_bad("unknown-user", user="appuser")])


def bad_corrupt_blob() -> Path:
    """Docker 25+ layout; the layer blob's bytes do not match its digest.

    The blob carries an extra empty tar block, so it still reads as the same
    filesystem, but its sha256 differs from its name and the manifest.
    """
    return _written(
        "bad-corrupt-blob",
        lambda: [_bad("corrupt-blob", corrupt_layers=frozenset({0}))],
        ArchiveFormat.DOCKER_OCI,
    )


def bad_wrong_diff_id() -> Path:
    """DOCKER layout; the config lists a wrong diff_id for the only layer."""
    return _written(
        "bad-wrong-diff-id",
        lambda: [_bad("wrong-diff-id", wrong_diff_ids=frozenset({0}))],
    )


# The Debian arm64 Python image ----------------------------------------------


def python_root_tar() -> Path:
    """Return the debootstrapped arm64 Python root tar, building it if needed."""
    if not PYTHON_ROOT.exists():
        _run([str(PYTHON_ROOT_SCRIPT), str(PYTHON_ROOT)], timeout=1800)
    return PYTHON_ROOT


def python_app_arm64() -> Path:
    """DOCKER layout, ~190 MB: Debian arm64 root + /app served by http.server."""
    root = python_root_tar()
    stat = root.stat()

    def build(path: Path) -> None:
        app = (
            LayerBuilder()
            .add_dir("app")
            .add_file("app/index.html", b"<html>siteproof python app</html>\n")
        )
        spec = ImageSpec(
            layers=(TarLayer(root), app),
            tags=(PYTHON_TAG,),
            architecture="arm64",
            cmd=PYTHON_CMD,
            working_dir="/app",
            exposed_ports=(f"{PYTHON_PORT}/tcp",),
            env=(f"PATH={DEFAULT_PATH}", "LANG=C.UTF-8"),
        )
        writer.write_archive(path, [spec], ArchiveFormat.DOCKER)

    return _cached(
        "python-app-arm64", [str(root), str(stat.st_size), str(stat.st_mtime_ns)], build
    )


# Which function builds which bad image, for parametrized tests.
BAD_IMAGES: dict[str, Callable[[], Path]] = {
    "crlf_shebang": bad_crlf_shebang,
    "foreign_binary": bad_foreign_binary,
    "s390x": bad_s390x,
    "missing_interpreter": bad_missing_interpreter,
    "missing_loader": bad_missing_loader,
    "no_exec_bit": bad_no_exec_bit,
    "not_on_path": bad_not_on_path,
    "whiteout_entrypoint": bad_whiteout_entrypoint,
    "opaque_entrypoint": bad_opaque_entrypoint,
    "unknown_user": bad_unknown_user,
    "corrupt_blob": bad_corrupt_blob,
    "wrong_diff_id": bad_wrong_diff_id,
    "zstd": httpd_arm64_zstd,
    "untagged": untagged_image,
}


# Fixtures --------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Need the machine's Docker engine (skip without, fail in CI)."""
    require_docker()


@pytest.fixture(scope="session")
def httpd_arm64_docker_save_tar(docker_engine: None) -> Path:
    """Real docker 20.10 ``docker save`` of the arm64 busybox httpd image."""
    return httpd_arm64_docker_save()


@pytest.fixture(scope="session")
def httpd_arm64_oci_tar(httpd_arm64_docker_save_tar: Path) -> Path:
    """skopeo's ``oci-archive:`` of the docker save tarball (gzip layers)."""
    return httpd_arm64_skopeo_oci()


@pytest.fixture(scope="session")
def httpd_arm64_docker_oci_tar(httpd_arm64_docker_save_tar: Path) -> Path:
    """The docker save tarball rewritten in the Docker 25+ layout."""
    return httpd_arm64_docker_oci()


@pytest.fixture(scope="session")
def httpd_arm64_zstd_tar() -> Path:
    """arm64 busybox httpd, OCI layout, zstd layers."""
    return httpd_arm64_zstd()


@pytest.fixture(scope="session")
def httpd_arm64_gzip_docker_oci_tar() -> Path:
    """arm64 busybox httpd, Docker 25+ layout, gzip layers."""
    return httpd_arm64_gzip_docker_oci()


@pytest.fixture(scope="session")
def multi_image_tar() -> Path:
    """Three arm64 images (two tagged, one untagged) in one DOCKER tarball."""
    return multi_image()


@pytest.fixture(scope="session")
def multi_platform_oci_tar() -> Path:
    """One tag, nested OCI index with arm64, amd64 and s390x images."""
    return multi_platform_oci()


@pytest.fixture(scope="session")
def untagged_tar() -> Path:
    """One untagged arm64 httpd image, DOCKER layout."""
    return untagged_image()


@pytest.fixture(scope="session")
def python_app_arm64_tar() -> Path:
    """The ~190 MB Debian arm64 python3 http.server image, DOCKER layout.

    Its root is built by ``bench/make_python_root.sh`` (minutes, .ci/run does
    it first); without it the test skips, or fails under CI=true.
    """
    if not PYTHON_ROOT.exists():
        message = f"{PYTHON_ROOT} is missing; run {PYTHON_ROOT_SCRIPT}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return python_app_arm64()


@pytest.fixture(scope="session", params=sorted(BAD_IMAGES))
def bad_image_tar(request: pytest.FixtureRequest) -> tuple[str, Path]:
    """Every bad image in turn, as (case name, tarball path)."""
    return request.param, BAD_IMAGES[request.param]()


def _bad_fixture(case: str) -> Callable[[], Path]:
    def fixture() -> Path:
        return BAD_IMAGES[case]()

    fixture.__doc__ = BAD_IMAGES[case].__doc__
    fixture.__name__ = f"bad_{case}_tar"
    return pytest.fixture(scope="session", name=f"bad_{case}_tar")(fixture)


# One fixture per bad image: bad_crlf_shebang_tar, bad_s390x_tar, ...
for _case in BAD_IMAGES:
    globals()[f"bad_{_case}_tar"] = _bad_fixture(_case)
