"""Real ELF files and image filesystems for the ELF parser and preflight tests.

The files come from Debian packages in /var/cache/siteproof-tests/debs
(extracted once into tests/.cache/preflight), from this machine's own x86-64
programs, and from binutils (``as``/``ld``) for the ELF32 and RPATH cases
no package provides. Filesystems are built from :class:`Entry` records, the
same model the tarball reader produces.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from siteproof.archive.elf import ELF_READ_LIMIT, JEMALLOC_MARKER, parse_elf
from siteproof.archive.model import (
    Archive,
    ArchiveFormat,
    BlobProblem,
    Compression,
    Entry,
    EntryType,
    Image,
    ImageConfig,
    ImageFilesystem,
    Layer,
)
from siteproof.findings import Finding
from siteproof.preflight import run_preflight
from siteproof.site import SiteProfile, parse_profile

TESTS_DIR = Path(__file__).resolve().parent.parent
CACHE_DIR = TESTS_DIR / ".cache/preflight"
DEBS_DIR = (
    Path(os.environ.get("SITEPROOF_TEST_CACHE", "/var/cache/siteproof-tests")) / "debs"
)
# Packages that make a small but real Debian arm64 root with bash and dash.
ARM64_ROOT_PACKAGES = ("bash", "dash", "libc6", "libtinfo6", "libjemalloc2")
HEAD_BYTES = 512
TEXT_LIMIT = 64 * 1024

PASSWD = "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:app\napp:x:1000:\n"
LD_SO_CONF = "include /etc/ld.so.conf.d/*.conf\n"


def deb_dir(package: str, arch: str = "arm64") -> Path:
    """Return the directory a Debian package is extracted into (once)."""
    debs = sorted(DEBS_DIR.glob(f"{package}_*_{arch}.deb"))
    if not debs:
        pytest.skip(f"{package} ({arch}) is not in {DEBS_DIR}")
    target = CACHE_DIR / debs[0].stem
    if not target.is_dir():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=CACHE_DIR))
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(scratch)], check=True)
        try:
            scratch.rename(target)
        except OSError:  # another test process got there first
            shutil.rmtree(scratch)
    return target


def entry_for(
    path: str, data: bytes, *, mode: int = 0o755, uid: int = 0, gid: int = 0
) -> Entry:
    """Return the Entry the reader would produce for a regular file."""
    elf = parse_elf(
        data[:ELF_READ_LIMIT],
        file_size=len(data),
        has_jemalloc=JEMALLOC_MARKER in data,
    )
    is_script = data.startswith(b"#!")
    rest = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return Entry(
        path,
        EntryType.FILE,
        mode=mode,
        uid=uid,
        gid=gid,
        size=len(data),
        head=data[:HEAD_BYTES],
        elf=elf,
        text=data if elf is None and len(data) <= TEXT_LIMIT else None,
        has_crlf=is_script and b"\r\n" in rest,
    )


class TreeBuilder:
    """A mutable set of entries that becomes an ImageFilesystem."""

    def __init__(self, entries: dict[str, Entry] | None = None) -> None:
        self.entries: dict[str, Entry] = dict(entries or {})

    def _parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        while parent != "/" and parent not in self.entries:
            self.entries[parent] = Entry(parent, EntryType.DIR, mode=0o755)
            parent = posixpath.dirname(parent)

    def file(self, path: str, data: bytes | str, **kwargs: Any) -> Entry:
        """Add a regular file (mode 0755 unless given)."""
        raw = data.encode() if isinstance(data, str) else data
        self._parents(path)
        self.entries[path] = entry_for(path, raw, **kwargs)
        return self.entries[path]

    def dir(self, path: str, mode: int = 0o755) -> None:
        """Add a directory."""
        self._parents(path)
        self.entries[path] = Entry(path, EntryType.DIR, mode=mode)

    def symlink(self, path: str, target: str) -> None:
        """Add a symlink."""
        self._parents(path)
        self.entries[path] = Entry(
            path, EntryType.SYMLINK, mode=0o777, link_target=target
        )

    def remove(self, path: str) -> None:
        """Drop a path (as a whiteout would)."""
        del self.entries[path]

    def move(self, source: str, target: str) -> None:
        """Move one entry to another path (a symlink moves, not its target)."""
        self._parents(target)
        entry = self.entries.pop(source)
        self.entries[target] = dataclasses.replace(entry, path=target)

    def copy_tree(self, root: Path) -> None:
        """Add every file, directory and symlink below a host directory."""
        for dirpath, dirnames, filenames in os.walk(root):
            for name in sorted(dirnames + filenames):
                host = Path(dirpath) / name
                path = "/" + str(host.relative_to(root))
                if host.is_symlink():
                    self.symlink(path, os.readlink(host))
                elif host.is_dir():
                    self.dir(path)
                else:
                    self.file(
                        path, host.read_bytes(), mode=host.stat().st_mode & 0o7777
                    )

    def fs(self) -> ImageFilesystem:
        """Return the merged filesystem view."""
        return ImageFilesystem(self.entries)


def make_image(
    *, tags: tuple[str, ...] = ("app:1",), layers: tuple[Layer, ...] = (), **config: Any
) -> Image:
    """Return an arm64 Image whose config fields are given as keywords."""
    config.setdefault("os", "linux")
    config.setdefault("architecture", "arm64")
    return Image(
        config_digest="sha256:" + "ab" * 32,
        config_blob="blobs/sha256/" + "ab" * 32,
        tags=tags,
        config=ImageConfig(**config),
        layers=layers,
    )


def make_layer(blob: str, compression: Compression = Compression.GZIP) -> Layer:
    """Return a layer record."""
    digest, diff_id = "sha256:" + "cd" * 32, "sha256:" + "ef" * 32
    return Layer(blob, digest, diff_id, "", compression, size=1, offset=0)


def make_archive(
    image: Image,
    *,
    format: ArchiveFormat = ArchiveFormat.DOCKER,
    problems: tuple[BlobProblem, ...] = (),
) -> Archive:
    """Return an archive index holding one image."""
    return Archive("app.tar", format, [image], 1, list(problems))


def make_profile(
    *,
    platform: str = "linux/arm64",
    docker: str = "20.10",
    page_size: str = "64k",
    **run: Any,
) -> SiteProfile:
    """Return a site profile; keywords go to its ``[run]`` table."""
    site = {"platform": platform, "docker": docker, "page_size": page_size}
    return parse_profile({"site": site, "run": run}, source="test", name="test")


Preflight = Callable[..., list[Finding]]


@pytest.fixture(scope="session")
def arm64_root() -> dict[str, Entry]:
    """Return the entries of a small Debian arm64 root (bash, dash, libc)."""
    builder = TreeBuilder()
    for package in ARM64_ROOT_PACKAGES:
        builder.copy_tree(deb_dir(package))
    builder.file("/etc/passwd", PASSWD, mode=0o644)
    builder.file("/etc/group", GROUP, mode=0o644)
    builder.file("/etc/ld.so.conf", LD_SO_CONF, mode=0o644)
    builder.dir("/tmp", mode=0o1777)
    return builder.entries


@pytest.fixture
def tree(arm64_root: dict[str, Entry]) -> TreeBuilder:
    """Return a fresh, editable copy of the Debian arm64 root."""
    return TreeBuilder(arm64_root)


@pytest.fixture(scope="session")
def elf_bytes() -> Callable[[str], bytes]:
    """Return a function giving the bytes of a named real ELF file.

    Names: ``busybox-arm64``, ``busybox-s390x``, ``busybox-amd64``,
    ``bash-arm64``, ``libc-arm64``, ``jemalloc-arm64``, ``host-ls``.
    """
    where = {
        "busybox-arm64": ("busybox-static", "arm64", "bin/busybox"),
        "busybox-s390x": ("busybox-static", "s390x", "bin/busybox"),
        "busybox-amd64": ("busybox-static", "amd64", "bin/busybox"),
        "bash-arm64": ("bash", "arm64", "bin/bash"),
        "libc-arm64": ("libc6", "arm64", "lib/aarch64-linux-gnu/libc.so.6"),
        "jemalloc-arm64": (
            "libjemalloc2",
            "arm64",
            "usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
        ),
    }

    def read(name: str) -> bytes:
        if name == "host-ls":
            return Path("/bin/ls").resolve().read_bytes()
        package, arch, member = where[name]
        return (deb_dir(package, arch) / member).read_bytes()

    return read


_ASM = ".globl _start\n_start:\n    nop\n"


def _link(workdir: Path, *args: str) -> None:
    subprocess.run(args, cwd=workdir, check=True, capture_output=True)


@pytest.fixture(scope="session")
def linked_elves(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Return small programs linked by binutils for what no package shows.

    ``prog64`` (x86-64, needs libdemo.so.1, RUNPATH ``$ORIGIN/../lib:/opt/x``),
    ``libdemo.so.1``, ``prog32`` (i386, needs libdemo32.so, RPATH ``/r32``)
    and ``libdemo32.so``.
    """
    if not (shutil.which("as") and shutil.which("ld")):
        pytest.skip("binutils (as, ld) are not installed")
    work = tmp_path_factory.mktemp("elves")
    (work / "start.s").write_text(_ASM)
    _link(work, "as", "--64", "-o", "start64.o", "start.s")
    _link(work, "ld", "-shared", "-soname", "libdemo.so.1", "-o", "libdemo.so.1",
          "start64.o")  # fmt: skip
    _link(work, "ld", "-o", "prog64", "start64.o", "-L.", "-l:libdemo.so.1",
          "--enable-new-dtags", "-rpath", "$ORIGIN/../lib", "-rpath", "/opt/x",
          "--dynamic-linker", "/lib64/ld-linux-x86-64.so.2")  # fmt: skip
    _link(work, "as", "--32", "-o", "start32.o", "start.s")
    _link(work, "ld", "-m", "elf_i386", "-shared", "-soname", "libdemo32.so",
          "-o", "libdemo32.so", "start32.o")  # fmt: skip
    _link(work, "ld", "-m", "elf_i386", "-o", "prog32", "start32.o", "-L.",
          "-l:libdemo32.so", "--disable-new-dtags", "-rpath", "/r32",
          "--dynamic-linker", "/lib/ld-linux.so.2")  # fmt: skip
    names = ("prog64", "libdemo.so.1", "prog32", "libdemo32.so")
    return {name: (work / name).read_bytes() for name in names}


@pytest.fixture
def preflight() -> Preflight:
    """Return a function running all checks on a tree with image/site keywords.

    Call it as ``preflight(tree, image=dict(...), site=dict(...),
    archive=dict(...))``; every keyword group is optional.
    """

    def run(
        tree: TreeBuilder,
        *,
        image: dict[str, Any] | None = None,
        site: dict[str, Any] | None = None,
        archive: dict[str, Any] | None = None,
    ) -> list[Finding]:
        built = make_image(**(image or {}))
        return run_preflight(
            make_archive(built, **(archive or {})),
            built,
            tree.fs(),
            make_profile(**(site or {})),
        )

    return run


def codes(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    """Return (severity, code, path) triples, for readable assertions."""
    return [(str(f.severity), f.code, f.path) for f in findings]


def iter_codes(findings: list[Finding], code: str) -> Iterator[Finding]:
    """Yield the findings with one code."""
    return (f for f in findings if f.code == code)
