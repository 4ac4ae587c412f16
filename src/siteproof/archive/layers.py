"""Stream an image's layers and merge them into the filesystem it will see."""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from siteproof.archive import elf
from siteproof.archive.model import (
    Archive,
    BlobProblem,
    Compression,
    Entry,
    EntryType,
    Image,
    ImageFilesystem,
    Layer,
)
from siteproof.archive.streams import (
    CHUNK_BYTES,
    DECOMPRESSION_ERRORS,
    FileSlice,
    HashingReader,
    SliceReader,
    drain,
    hash_in_background,
    open_decompressed,
    tar_end_problem,
)

log = logging.getLogger(__name__)

# Called with (bytes of the tarball read so far, bytes the image's layers hold).
LayerProgress = Callable[[int, int], None]

WHITEOUT_PREFIX = ".wh."
# Longest file name Linux accepts; docker load fails on longer ones.
NAME_MAX = 255
OPAQUE_MARKER = ".wh..wh..opq"

# tarfile's stream mode copies its whole buffer on every small read, so a
# small buffer is much faster than a large one (measured: 16 KiB vs 1 MiB).
STREAM_BUFFER_BYTES = 16 << 10

ELF_MAGIC = b"\x7fELF"
ELF_HEAD_BYTES = 2 << 20
SCRIPT_HEAD_BYTES = 256
# Whole scripts are scanned for CRLF only up to this size.
SCRIPT_SCAN_BYTES = 1 << 20
# Small text files whose whole content the checks read.
CAPTURED_FILES = (
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.conf",
    "/etc/os-release",
    "/usr/lib/os-release",
)
CAPTURED_DIRS = ("/etc/ld.so.conf.d",)
# musl's loader reads its search path from /etc/ld-musl-<arch>.path.
CAPTURED_PREFIXES = ("/etc/ld-musl-",)
CAPTURED_MAX_BYTES = 1 << 20

_TAR_TYPES = {
    tarfile.REGTYPE: EntryType.FILE,
    tarfile.AREGTYPE: EntryType.FILE,
    tarfile.CONTTYPE: EntryType.FILE,
    tarfile.DIRTYPE: EntryType.DIR,
    tarfile.SYMTYPE: EntryType.SYMLINK,
    tarfile.LNKTYPE: EntryType.HARDLINK,
    tarfile.CHRTYPE: EntryType.CHAR,
    tarfile.BLKTYPE: EntryType.BLOCK,
    tarfile.FIFOTYPE: EntryType.FIFO,
}


def read_filesystem(
    archive: Archive, image: Image, *, progress: LayerProgress | None = None
) -> ImageFilesystem:
    """Stream every layer of *image* once and return the merged filesystem.

    Each blob is checked against its digest and each layer against the
    config's diff_id; mismatches are added to ``archive.problems`` (the site
    would refuse or corrupt them), the reading goes on.

    Raises:
        ArchiveError: when the tarball cannot be read at all.
    """
    merger = _Merger()
    total = sum(layer.size for layer in image.layers)
    done = 0
    for index, layer in enumerate(image.layers):
        _read_layer(Path(archive.path), archive, index, layer, merger)
        done += layer.size
        if progress:
            progress(done, total)
    return ImageFilesystem(merger.entries, merger.children)


def _read_layer(
    path: Path, archive: Archive, index: int, layer: Layer, merger: _Merger
) -> None:
    try:
        if layer.compression is Compression.NONE:
            blob_digest = diff_id = _merge_plain(path, layer, index, merger)
        else:
            blob_digest, diff_id = _merge_compressed(path, layer, index, merger)
    except (tarfile.TarError, *DECOMPRESSION_ERRORS) as exc:
        log.debug("layer %s unreadable: %s", layer.blob, exc)
        merger.note_damage(str(exc) or type(exc).__name__)
    else:
        _check_digests(archive, layer, blob_digest, diff_id)
    for damage in merger.take_damage():
        archive.problems.append(BlobProblem(layer.blob, "", damage, "content"))


def _merge_plain(path: Path, layer: Layer, index: int, merger: _Merger) -> str:
    """Parse a plain layer by seeking past contents; hash it on another thread."""
    digest = hash_in_background(path, layer.offset, layer.size)
    with (
        FileSlice(path, layer.offset, layer.size) as window,
        tarfile.open(fileobj=window, mode="r:") as tar,
    ):
        _merge_members(tar, index, merger)
        window.seek(tar.offset)
        _expect_clean_end(tar)
    return "sha256:" + digest.result()


def _merge_compressed(
    path: Path, layer: Layer, index: int, merger: _Merger
) -> tuple[str, str]:
    """Stream a compressed layer once, hashing both its blob and its tar."""
    with SliceReader(path, layer.offset, layer.size) as raw:
        diff = HashingReader(open_decompressed(raw, layer.compression))
        with tarfile.open(
            fileobj=diff,
            mode="r|",
            bufsize=STREAM_BUFFER_BYTES,
        ) as tar:
            _merge_members(tar, index, merger)
            _expect_clean_end(tar)
        drain(diff)  # type: ignore[arg-type]
        return "sha256:" + raw.hasher.hexdigest(), "sha256:" + diff.hasher.hexdigest()


def _check_digests(
    archive: Archive, layer: Layer, blob_digest: str, diff_id: str
) -> None:
    if layer.digest.startswith("sha256:") and layer.digest != blob_digest:
        archive.problems.append(
            BlobProblem(layer.blob, layer.digest, blob_digest, "blob digest")
        )
    if layer.diff_id and layer.diff_id != diff_id:
        archive.problems.append(
            BlobProblem(layer.blob, layer.diff_id, diff_id, "diff_id")
        )


def _merge_members(tar: tarfile.TarFile, index: int, merger: _Merger) -> None:
    for member in tar:
        path = _normalize(member.name)
        name = posixpath.basename(path)
        if name == OPAQUE_MARKER:
            merger.make_opaque(posixpath.dirname(path), index)
        elif name.startswith(WHITEOUT_PREFIX):
            parent = posixpath.dirname(path)
            merger.remove(posixpath.join(parent, name[len(WHITEOUT_PREFIX) :]), index)
        elif path != "/" or member.isdir():
            entry = _entry(tar, member, path, index)
            merger.check_loadable(entry)
            merger.add(entry)
        tar.members.clear()  # type: ignore[attr-defined]  # keep memory flat: entries hold what we need


def _expect_clean_end(tar: tarfile.TarFile) -> None:
    """Raise when tarfile stopped early at a damaged header (it does so quietly)."""
    problem = tar_end_problem(tar.fileobj)  # type: ignore[arg-type]
    if problem:
        raise tarfile.ReadError(problem)


def _normalize(name: str) -> str:
    """Turn ``./usr/bin/``, ``usr/bin`` and ``/usr/bin`` into ``/usr/bin``."""
    return posixpath.normpath("/" + name.lstrip("/"))


def _entry(
    tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, index: int
) -> Entry:
    kind = _TAR_TYPES.get(member.type, EntryType.FILE)
    target = member.linkname or None
    if kind is EntryType.HARDLINK and target:
        target = _normalize(target)
    entry = Entry(
        path=path,
        type=kind,
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        size=member.size if kind is EntryType.FILE else 0,
        link_target=target,
        layer=index,
        offset=member.offset_data,
    )
    if kind is EntryType.FILE and member.size:
        return _with_content_facts(tar, member, entry)
    return entry


def _with_content_facts(
    tar: tarfile.TarFile, member: tarfile.TarInfo, entry: Entry
) -> Entry:
    handle = tar.extractfile(member)
    if handle is None:
        return entry
    first = handle.read(4)
    if first == ELF_MAGIC:
        return _elf_entry(handle, first, entry)
    if first.startswith(b"#!"):
        return _script_entry(handle, first, entry)
    if _is_captured(entry.path) and entry.size <= CAPTURED_MAX_BYTES:
        return _replace(entry, head=first, text=first + handle.read())
    return _replace(entry, head=first)


def _elf_entry(handle: IO[bytes], first: bytes, entry: Entry) -> Entry:
    """Read an ELF file through: its head, its dynamic section, jemalloc."""
    head = first + handle.read(ELF_HEAD_BYTES - len(first))
    span = elf.dynamic_range(head)
    dynamic = elf.SpanCollector(*span, position=len(head)) if span else None
    marker = elf.JEMALLOC_MARKER
    found = marker in head
    tail = head[-len(marker) :]
    while (not found or (dynamic and not dynamic.is_complete)) and (
        chunk := handle.read(CHUNK_BYTES)
    ):
        if dynamic:
            dynamic.feed(chunk)
        found = found or marker in tail + chunk[: len(marker)] or marker in chunk
        tail = chunk[-len(marker) :]
    facts = elf.parse_elf(
        head,
        file_size=entry.size,
        has_jemalloc=found,
        dynamic=dynamic.data() if dynamic else None,
    )
    return _replace(entry, head=head[:SCRIPT_HEAD_BYTES], elf=facts)


def _script_entry(handle: IO[bytes], first: bytes, entry: Entry) -> Entry:
    content = first + handle.read(SCRIPT_SCAN_BYTES)
    _, newline, body = content.partition(b"\n")
    text = content if _is_captured(entry.path) else None
    return _replace(
        entry,
        head=content[:SCRIPT_HEAD_BYTES],
        has_crlf=bool(newline) and b"\r\n" in body,
        text=text,
    )


def _is_captured(path: str) -> bool:
    return (
        path in CAPTURED_FILES
        or posixpath.dirname(path) in CAPTURED_DIRS
        or path.startswith(CAPTURED_PREFIXES)
    )


def _replace(entry: Entry, **changes: object) -> Entry:
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


class _Merger:
    """Apply layers in order: later entries win, whiteouts delete lower ones."""

    def __init__(self) -> None:
        root = Entry("/", EntryType.DIR, mode=0o755)
        self.entries: dict[str, Entry] = {"/": root}
        self.children: dict[str, set[str]] = {"/": set()}
        self._damage: list[str] = []

    def check_loadable(self, entry: Entry) -> None:
        """Note what makes the engine refuse the layer while unpacking it."""
        too_long = [part for part in entry.path.split("/") if len(part) > NAME_MAX]
        if too_long:
            self.note_damage(f"{entry.path} has a name longer than {NAME_MAX} bytes")
        target = entry.link_target or ""
        if entry.type is EntryType.HARDLINK and target not in self.entries:
            self.note_damage(f"hard link {entry.path} points to missing {target}")

    def note_damage(self, what: str) -> None:
        """Note why the layer cannot be unpacked."""
        self._damage.append(what)

    def take_damage(self) -> list[str]:
        """Return and forget what :meth:`check_loadable` noted."""
        damage, self._damage = self._damage, []
        return damage

    def add(self, entry: Entry) -> None:
        path = entry.path
        self._ensure_parents(path, entry.layer)
        old = self.entries.get(path)
        if (
            old is not None
            and old.type is EntryType.DIR
            and entry.type is not EntryType.DIR
        ):
            self._drop_subtree(path)
        self.entries[path] = entry
        self.children[posixpath.dirname(path)].add(posixpath.basename(path))
        if entry.type is EntryType.DIR:
            self.children.setdefault(path, set())

    def remove(self, path: str, layer: int) -> None:
        """Apply ``.wh.NAME``: delete a lower layer's path and all below it."""
        old = self.entries.get(path)
        if old is None or old.layer >= layer:
            return
        self._drop_subtree(path)
        del self.entries[path]
        self.children.get(posixpath.dirname(path), set()).discard(
            posixpath.basename(path)
        )

    def make_opaque(self, directory: str, layer: int) -> None:
        """Apply ``.wh..wh..opq``: hide what lower layers put in *directory*."""
        for name in list(self.children.get(directory, ())):
            child = posixpath.join(directory, name)
            if self.entries[child].layer < layer:
                self.remove(child, layer)

    def _drop_subtree(self, path: str) -> None:
        for name in self.children.pop(path, set()):
            child = posixpath.join(path, name)
            self._drop_subtree(child)
            self.entries.pop(child, None)

    def _ensure_parents(self, path: str, layer: int) -> None:
        """Create directories a layer implies but does not list."""
        parent = posixpath.dirname(path)
        existing = self.entries.get(parent)
        if existing is not None and existing.type is EntryType.DIR:
            return
        if parent != "/":
            self._ensure_parents(parent, layer)
        self.entries[parent] = Entry(parent, EntryType.DIR, mode=0o755, layer=layer)
        self.children.setdefault(parent, set())
        self.children[posixpath.dirname(parent)].add(posixpath.basename(parent))
