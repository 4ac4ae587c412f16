"""Layer blobs for the archive writer: built from entries, a tar, or a blob.

Each source writes its blob through hashing (diff_id of the tar stream, digest
of the stored bytes) and optional compression into a file-like sink, so even
a large root filesystem is streamed rather than held in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import zstandard

from siteproof.archive.model import Compression, Layer
from siteproof.archive.streams import (
    CHUNK_BYTES,
    FileSlice,
    detect_compression,
    open_decompressed,
)
from siteproof.errors import ArchiveError

EMPTY_TAR_BLOCK = b"\0" * 512
# 2024-01-01: a fixed mtime keeps built layers reproducible.
DEFAULT_MTIME = 1704067200


class LayerSource(Protocol):
    """Anything that can become one layer blob.

    Sources must be hashable: the writer stores each distinct source once,
    however many images of an archive share it.
    """

    def write_blob(self, sink: BinaryIO, compression: Compression) -> LayerDigests:
        """Write the blob to *sink* and return what its digests are."""
        ...


@dataclass(frozen=True, slots=True)
class LayerDigests:
    """The identity of a written layer blob.

    Attributes:
        diff_id: sha256 of the uncompressed tar, as the config lists it.
        digest: sha256 of the blob as stored.
        size: blob size in bytes.
        compression: how the blob is compressed.
    """

    diff_id: str
    digest: str
    size: int
    compression: Compression


class _HashingSink:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, target: BinaryIO) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self._target = target

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self._target.write(data)
        return len(data)

    def flush(self) -> None:
        """Do nothing; gzip and zstd flush their sink when closing."""

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


@contextmanager
def _compressed(sink: BinaryIO, compression: Compression) -> Iterator[BinaryIO]:
    """Yield a writer that compresses into *sink*; closing it ends the stream."""
    writer: Any
    if compression is Compression.GZIP:
        writer = gzip.GzipFile(fileobj=sink, mode="wb", mtime=0)
    elif compression is Compression.ZSTD:
        writer = zstandard.ZstdCompressor().stream_writer(sink, closefd=False)
    else:
        writer = sink
    try:
        yield writer
    finally:
        if writer is not sink:
            writer.close()


def _write_tar_stream(
    produce: Callable[[BinaryIO], None], sink: BinaryIO, compression: Compression
) -> LayerDigests:
    """Run *produce(writer)* to emit a tar stream; hash and compress it."""
    blob = _HashingSink(sink)
    with _compressed(cast(BinaryIO, blob), compression) as compressor:
        plain = _HashingSink(compressor)
        produce(cast(BinaryIO, plain))
    return LayerDigests(plain.digest, blob.digest, blob.size, compression)


@dataclass(frozen=True, slots=True)
class _Member:
    info: tarfile.TarInfo
    data: bytes | Path | None = None


class LayerBuilder:
    """Collect filesystem entries and write them as one layer tar.

    Paths are relative to the image root (a leading ``/`` is dropped). Entries
    are written in the order they were added; parents are not implied.
    Methods return the builder, so calls chain.
    """

    def __init__(self, *, mtime: int = DEFAULT_MTIME) -> None:
        self._members: list[_Member] = []
        self._names: set[str] = set()
        self._mtime = mtime

    def _info(
        self, path: str, kind: bytes, mode: int, uid: int, gid: int
    ) -> tarfile.TarInfo:
        name = path.strip("/") or "."
        if name in self._names:
            raise ValueError(f"{name} is already in this layer")
        self._names.add(name)
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid = kind, mode, uid, gid
        info.mtime = self._mtime
        return info

    def add_file(
        self,
        path: str,
        data: bytes | Path,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
    ) -> LayerBuilder:
        """Add a regular file with *data* (bytes, or a host file read lazily)."""
        info = self._info(path, tarfile.REGTYPE, mode, uid, gid)
        info.size = data.stat().st_size if isinstance(data, Path) else len(data)
        self._members.append(_Member(info, data))
        return self

    def add_dir(
        self, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0
    ) -> LayerBuilder:
        """Add a directory."""
        self._members.append(_Member(self._info(path, tarfile.DIRTYPE, mode, uid, gid)))
        return self

    def add_symlink(self, path: str, target: str) -> LayerBuilder:
        """Add a symbolic link to *target* (stored verbatim)."""
        info = self._info(path, tarfile.SYMTYPE, 0o777, 0, 0)
        info.linkname = target
        self._members.append(_Member(info))
        return self

    def add_hardlink(self, path: str, target: str) -> LayerBuilder:
        """Add a hard link to *target*, a path earlier in this layer."""
        info = self._info(path, tarfile.LNKTYPE, 0o644, 0, 0)
        info.linkname = target.lstrip("/")
        self._members.append(_Member(info))
        return self

    def add_whiteout(self, path: str) -> LayerBuilder:
        """Delete *path* of lower layers (writes ``dir/.wh.name``)."""
        parent, _, name = path.strip("/").rpartition("/")
        whiteout = f"{parent}/.wh.{name}" if parent else f".wh.{name}"
        return self.add_file(whiteout, b"", mode=0o600)

    def add_opaque(self, directory: str) -> LayerBuilder:
        """Hide everything lower layers put in *directory*."""
        return self.add_file(f"{directory.strip('/')}/.wh..wh..opq", b"", mode=0o600)

    @staticmethod
    def from_tar(path: Path) -> TarLayer:
        """Return a layer whose content is the tar at *path* (plain, gz or zst)."""
        return TarLayer(path)

    def write_blob(self, sink: BinaryIO, compression: Compression) -> LayerDigests:
        """Write the layer blob to *sink* and return its digests."""
        return _write_tar_stream(self._write_tar, sink, compression)

    def _write_tar(self, plain: BinaryIO) -> None:
        with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for member in self._members:
                if isinstance(member.data, Path):
                    with member.data.open("rb") as handle:
                        tar.addfile(member.info, handle)
                elif member.data is not None:
                    tar.addfile(member.info, io.BytesIO(member.data))
                else:
                    tar.addfile(member.info)


@dataclass(frozen=True, slots=True)
class TarLayer:
    """A layer made of an existing tar file (e.g. a whole rootfs), streamed."""

    path: Path

    def write_blob(self, sink: BinaryIO, compression: Compression) -> LayerDigests:
        """Copy the tar, decompressing and recompressing as asked."""

        def produce(plain: BinaryIO) -> None:
            with self.path.open("rb") as probe:
                kind = detect_compression(probe.read(4))
            with open_decompressed(io.FileIO(self.path), kind) as stream:
                shutil.copyfileobj(stream, plain, CHUNK_BYTES)

        return _write_tar_stream(produce, sink, compression)


@dataclass(frozen=True, slots=True)
class BlobLayer:
    """A layer blob copied byte for byte from another image tarball.

    Attributes:
        archive: the tarball that holds the blob.
        layer: where the blob sits in it, and the diff_id its config lists
            (trusted, not recomputed), as :func:`open_archive` found them.
    """

    archive: Path
    layer: Layer

    def write_blob(self, sink: BinaryIO, compression: Compression) -> LayerDigests:
        """Copy the blob bytes as they are; *compression* is ignored."""
        del compression
        blob = _HashingSink(sink)
        with FileSlice(self.archive, self.layer.offset, self.layer.size) as source:
            shutil.copyfileobj(source, cast(BinaryIO, blob), CHUNK_BYTES)
        if blob.size != self.layer.size:
            raise ArchiveError(f"{self.archive} is truncated inside {self.layer.blob}")
        digests = (self.layer.diff_id, blob.digest, blob.size, self.layer.compression)
        return LayerDigests(*digests)


def corrupt_trailer(compression: Compression) -> bytes:
    """Return bytes that change a blob's digest but not the files it holds.

    An empty gzip member or zstd frame, or one more zero tar block: readers
    still see the same filesystem, but the blob no longer matches its digest.
    """
    if compression is Compression.GZIP:
        return gzip.compress(b"", mtime=0)
    if compression is Compression.ZSTD:
        return zstandard.ZstdCompressor().compress(b"")
    return EMPTY_TAR_BLOCK
