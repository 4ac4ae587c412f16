"""What reading an image tarball yields: images, layers and the merged filesystem."""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from siteproof.platforms import Platform

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# How many symlinks one lookup may cross; Linux gives up at 40 (ELOOP).
MAX_SYMLINKS = 40


class ArchiveFormat(enum.Enum):
    """The layouts ``docker save`` and other tools write."""

    DOCKER = "docker"  # manifest.json + <id>/layer.tar, engines before 25
    DOCKER_OCI = "docker-oci"  # Docker 25+: OCI layout plus manifest.json
    OCI = "oci"  # OCI layout only, no manifest.json


class Compression(enum.Enum):
    """How a layer blob is compressed."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"  # docker load accepts these two; nobody should send them
    XZ = "xz"


class EntryType(enum.Enum):
    """The kinds of filesystem object a layer can hold."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"


@dataclass(frozen=True, slots=True)
class ElfFacts:
    """What an ELF header and its program headers say about a file.

    Attributes:
        machine: ``e_machine`` (183 aarch64, 62 x86-64, 22 s390x, ...).
        bits: 32 or 64 (``EI_CLASS``).
        little_endian: ``EI_DATA``.
        elf_type: ``e_type`` (2 executable, 3 shared object or PIE).
        interpreter: ``PT_INTERP``, the dynamic loader it needs, if any.
        needed: ``DT_NEEDED`` libraries; None when they could not be read.
        rpath: ``DT_RPATH`` and ``DT_RUNPATH`` directories, in that order.
        min_load_align: smallest ``p_align`` of its ``PT_LOAD`` segments.
        has_jemalloc: the file carries jemalloc (linked in or as the library).
    """

    machine: int
    bits: int
    little_endian: bool
    elf_type: int
    interpreter: str | None = None
    needed: tuple[str, ...] | None = ()
    rpath: tuple[str, ...] = ()
    min_load_align: int | None = None
    has_jemalloc: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """One path of the merged filesystem, as the container will see it.

    Attributes:
        path: absolute and normalised, e.g. ``/usr/bin/python3``.
        type: file, dir, symlink, ...
        mode: permission bits including setuid/setgid/sticky.
        uid: numeric owner.
        gid: numeric group.
        size: content size in bytes (0 for non-files).
        link_target: where a symlink points, or the path a hard link names.
        layer: index of the layer that provides this entry (0 is the base).
        offset: where its bytes start in that layer's uncompressed tar stream.
        head: the first bytes of a regular file (enough for ``#!`` lines).
        elf: ELF facts, for ELF files.
        text: whole content of small files worth reading (passwd, group,
            ld.so.conf, scripts); None otherwise.
        has_crlf: a ``#!`` script has CRLF line endings after its first line.
    """

    path: str
    type: EntryType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    link_target: str | None = None
    layer: int = 0
    offset: int = 0
    head: bytes = b""
    elf: ElfFacts | None = None
    text: bytes | None = None
    has_crlf: bool = False

    @property
    def is_file(self) -> bool:
        """Tell whether the entry is a regular file (hard links count)."""
        return self.type in (EntryType.FILE, EntryType.HARDLINK)


class SymlinkLoopError(Exception):
    """A path crosses too many symlinks (the kernel would answer ELOOP)."""


class ImageFilesystem:
    """The merged view of all layers, whiteouts applied."""

    def __init__(
        self,
        entries: Mapping[str, Entry] | None = None,
        children: Mapping[str, set[str]] | None = None,
    ) -> None:
        self._entries: dict[str, Entry] = dict(entries or {})
        self._entries.setdefault("/", Entry("/", EntryType.DIR, mode=0o755))
        self._children = children

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def get(self, path: str) -> Entry | None:
        """Return the entry stored at exactly *path*, following no symlink."""
        return self._entries.get(path)

    def resolve(self, path: str, *, cwd: str = "/") -> Entry | None:
        """Follow symlinks inside the image root, as the kernel would.

        Absolute targets restart at the image root, ``..`` stops at ``/``,
        and hard links lead to the file they name.

        Returns:
            the final entry, or None when some component does not exist.

        Raises:
            SymlinkLoopError: when more than 40 links are crossed.
        """
        real = self.realpath(path, cwd=cwd)
        if real is None:
            return None
        entry = self._entries.get(real)
        if entry is not None and entry.type is EntryType.HARDLINK:
            return self._entries.get(entry.link_target or "", entry)
        return entry

    def realpath(self, path: str, *, cwd: str = "/") -> str | None:
        """Return the symlink-free path that *path* names, or None if missing.

        Raises:
            SymlinkLoopError: when more than 40 links are crossed.
        """
        pending = posixpath.join(cwd, path).split("/")
        pending.reverse()
        resolved = "/"
        links = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                resolved = posixpath.dirname(resolved)
                continue
            candidate = posixpath.join(resolved, part)
            entry = self._entries.get(candidate)
            if entry is None:
                return None
            if entry.type is not EntryType.SYMLINK:
                if pending and entry.type is not EntryType.DIR:
                    return None
                resolved = candidate
                continue
            links += 1
            if links > MAX_SYMLINKS:
                raise SymlinkLoopError(path)
            target = entry.link_target or ""
            if target.startswith("/"):
                resolved = "/"
            pending.extend(reversed(target.split("/")))
        return resolved

    def is_executable_by(self, entry: Entry, uid: int, gids: set[int]) -> bool:
        """Apply the kernel's execute-permission rule for one user."""
        if uid == 0:
            return bool(entry.mode & 0o111)
        if entry.uid == uid:
            return bool(entry.mode & 0o100)
        if entry.gid in gids:
            return bool(entry.mode & 0o010)
        return bool(entry.mode & 0o001)

    def read_text(self, path: str) -> str | None:
        """Return the captured content of a small file, following symlinks."""
        try:
            entry = self.resolve(path)
        except SymlinkLoopError:
            return None
        if entry is None or entry.text is None:
            return None
        return entry.text.decode("utf-8", errors="replace")

    def listdir(self, directory: str) -> list[str]:
        """Return the names directly inside *directory* (no symlink following)."""
        if self._children is not None:
            return sorted(self._children.get(directory.rstrip("/") or "/", ()))
        prefix = directory.rstrip("/") + "/"
        return sorted(
            path[len(prefix) :]
            for path in self._entries
            if path.startswith(prefix) and "/" not in path[len(prefix) :]
        )


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of an image as the archive stores it."""

    blob: str  # member name inside the tarball
    digest: str  # sha256:... of the blob as stored ("" when unknown)
    diff_id: str  # sha256:... of the uncompressed tar, from the config
    media_type: str
    compression: Compression
    size: int
    offset: int  # where the blob's bytes start inside the tarball


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image config that decide how it starts."""

    os: str = ""
    architecture: str = ""
    variant: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    diff_ids: tuple[str, ...] = ()

    @property
    def platform(self) -> Platform:
        """Return the platform the config declares."""
        return Platform(self.os, self.architecture, self.variant)

    @property
    def path_dirs(self) -> list[str]:
        """Return the PATH the container starts with."""
        for item in self.env:
            name, _, value = item.partition("=")
            if name == "PATH":
                return [d for d in value.split(":") if d]
        return DEFAULT_PATH.split(":")

    @classmethod
    def from_json(cls, document: Any) -> ImageConfig:
        """Build from the JSON of an image config blob.

        Raises:
            ValueError: naming the first field whose type is wrong (the
                engine could not unmarshal it either).
        """
        top = json_mapping(document, "the config")
        config = json_mapping(top.get("config"), "config")
        rootfs = json_mapping(top.get("rootfs"), "rootfs")
        health = json_mapping(config.get("Healthcheck"), "config.Healthcheck")
        return cls(
            os=json_string(top, "os"),
            architecture=json_string(top, "architecture"),
            variant=json_string(top, "variant"),
            entrypoint=json_strings(config, "Entrypoint", "config."),
            cmd=json_strings(config, "Cmd", "config."),
            env=json_strings(config, "Env", "config."),
            working_dir=json_string(config, "WorkingDir", "config."),
            user=json_string(config, "User", "config."),
            exposed_ports=tuple(
                sorted(json_mapping(config.get("ExposedPorts"), "config.ExposedPorts"))
            ),
            healthcheck=json_strings(health, "Test", "config.Healthcheck."),
            labels={
                str(k): str(v)
                for k, v in json_mapping(config.get("Labels"), "config.Labels").items()
            },
            diff_ids=json_strings(rootfs, "diff_ids", "rootfs."),
        )


def json_mapping(value: Any, where: str) -> Mapping[str, Any]:
    """Return a JSON object, {} for null; raise ValueError for anything else."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is not an object")
    return value


def json_string(document: Mapping[str, Any], key: str, where: str = "") -> str:
    """Return a string field, "" for null or absent."""
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{where}{key} is not a string")
    return value


def json_strings(
    document: Mapping[str, Any], key: str, where: str = ""
) -> tuple[str, ...]:
    """Return a list-of-strings field, () for null or absent."""
    value = document.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}{key} is not a list of strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class Image:
    """One image found in the tarball."""

    config_digest: str  # sha256:... of the config blob: the image id
    config_blob: str  # member name of the config blob
    tags: tuple[str, ...]
    config: ImageConfig
    layers: tuple[Layer, ...]

    @property
    def id(self) -> str:
        """Return the short image id, as ``docker images`` shows it."""
        return self.config_digest.removeprefix("sha256:")[:12]

    @property
    def name(self) -> str:
        """Return the first tag, or the short id for an untagged image."""
        return self.tags[0] if self.tags else self.id


@dataclass(frozen=True, slots=True)
class BlobProblem:
    """A blob whose bytes do not match what the archive says they are."""

    blob: str
    expected: str
    actual: str
    what: str  # "blob digest" or "diff_id"


@dataclass(slots=True)
class Archive:
    """The index of a tarball: its format and images, before any layer is read."""

    path: str
    format: ArchiveFormat
    images: list[Image]
    size: int
    problems: list[BlobProblem] = field(default_factory=list)
