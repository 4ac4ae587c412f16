"""Preflight end to end: real tarballs from the archive writer, read by the reader."""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from siteproof.archive.model import ArchiveFormat
from siteproof.archive.writer import ImageSpec, LayerBuilder, write_archive
from siteproof.findings import Finding
from siteproof.inspect import inspect_tarball
from support.preflight_samples import (
    ARM64_ROOT_PACKAGES,
    GROUP,
    LD_SO_CONF,
    PASSWD,
    codes,
    deb_dir,
    make_profile,
)

TINFO = "lib/aarch64-linux-gnu/libtinfo.so.6.4"
Inspect = Callable[..., list[Finding]]


def _debian_layer() -> LayerBuilder:
    """Return one layer holding the Debian arm64 packages and /etc files."""
    layer = LayerBuilder()
    seen: set[str] = set()
    for package in ARM64_ROOT_PACKAGES:
        root = deb_dir(package)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in sorted(dirnames) + sorted(filenames):
                host = Path(dirpath) / name
                path = str(host.relative_to(root))
                if path in seen:
                    continue
                seen.add(path)
                if host.is_symlink():
                    layer.add_symlink(path, os.readlink(host))
                elif host.is_dir():
                    layer.add_dir(path)
                else:
                    layer.add_file(path, host, mode=host.stat().st_mode & 0o7777)
    layer.add_file("etc/passwd", PASSWD.encode())
    layer.add_file("etc/group", GROUP.encode())
    layer.add_file("etc/ld.so.conf", LD_SO_CONF.encode())
    return layer


def _with_4k_alignment(data: bytes) -> bytes:
    patched = bytearray(data)
    phoff = struct.unpack_from("<Q", data, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for index in range(phnum):
        header = phoff + index * phentsize
        if struct.unpack_from("<I", data, header)[0] == 1:
            struct.pack_into("<Q", patched, header + 48, 0x1000)
    return bytes(patched)


@pytest.fixture(scope="module")
def inspect_image(tmp_path_factory: pytest.TempPathFactory) -> Inspect:
    """Return a function that writes an image on the Debian root and inspects it."""
    base = _debian_layer()
    workdir = tmp_path_factory.mktemp("tarballs")
    counter = iter(range(1000))

    def run(top: LayerBuilder | None = None, **config: object) -> list[Finding]:
        layers = (base,) if top is None else (base, top)
        spec = ImageSpec(layers=layers, tags=("app:1",), architecture="arm64")
        spec = dataclasses.replace(spec, **config)  # type: ignore[arg-type]
        path = write_archive(
            workdir / f"image-{next(counter)}.tar", [spec], ArchiveFormat.DOCKER
        )
        return list(inspect_tarball(path, make_profile()).findings)

    return run


def _errors(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    return [c for c in codes(findings) if c[0] == "error"]


def test_preflight_tarball_good_debian_root_has_no_errors(
    inspect_image: Inspect,
) -> None:
    findings = inspect_image(cmd=("bash", "-c", "exec dash -c true"))

    assert _errors(findings) == []


def test_preflight_tarball_whiteout_of_library_is_missing_library(
    inspect_image: Inspect,
) -> None:
    top = LayerBuilder().add_whiteout(TINFO)

    findings = inspect_image(top, cmd=("/bin/bash",))

    assert _errors(findings) == [("error", "library-missing", "/bin/bash")]


def test_preflight_tarball_4k_aligned_program_fails_on_64k_site(
    inspect_image: Inspect,
) -> None:
    busybox = (deb_dir("busybox-static") / "bin/busybox").read_bytes()
    top = (
        LayerBuilder()
        .add_dir("opt")
        .add_file("opt/tool", _with_4k_alignment(busybox), mode=0o755)
    )

    findings = inspect_image(top, cmd=("/opt/tool", "true"))

    assert _errors(findings) == [("error", "page-size", "/opt/tool")]


def test_preflight_tarball_shell_form_checks_first_program(
    inspect_image: Inspect,
) -> None:
    findings = inspect_image(cmd=("/bin/sh", "-c", "cd /srv && exec node app.js"))

    assert _errors(findings) == [("error", "shell-command-not-found", "node")]


def test_preflight_tarball_crlf_shell_script_warns(inspect_image: Inspect) -> None:
    top = (
        LayerBuilder()
        .add_dir("app")
        .add_file("app/start.sh", b"#!/bin/bash\nset -e\r\nexec dash\r\n", mode=0o755)
    )

    findings = inspect_image(top, entrypoint=("/app/start.sh",))

    assert _errors(findings) == []
    assert ("warning", "script-crlf", "/app/start.sh") in codes(findings)
