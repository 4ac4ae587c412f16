"""Byte streams over parts of a tarball that hash what passes through them."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import threading
import zlib
from concurrent.futures import Future
from pathlib import Path
from typing import IO, cast

import zstandard

from siteproof.archive.model import Compression

CHUNK_BYTES = 1 << 20

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zX"

# What a damaged compressed stream raises, depending on where it breaks.
DECOMPRESSION_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    zstandard.ZstdError,
    lzma.LZMAError,
)


def detect_compression(magic: bytes) -> Compression:
    """Tell a layer's compression from its first four bytes."""
    if magic.startswith(_GZIP_MAGIC):
        return Compression.GZIP
    if magic.startswith(_ZSTD_MAGIC):
        return Compression.ZSTD
    if magic.startswith(_BZIP2_MAGIC):
        return Compression.BZIP2
    if magic.startswith(_XZ_MAGIC):
        return Compression.XZ
    return Compression.NONE


class SliceReader(io.RawIOBase):
    """Read ``size`` bytes of a file from ``offset``, hashing them as they pass."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._file: io.BufferedReader = path.open("rb")
        self._file.seek(offset)
        self._left = size
        self.hasher = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)[: self._left]
        count = self._file.readinto(view)
        if count:
            self.hasher.update(view[:count])
            self._left -= count
            self.bytes_read += count
        return count or 0

    def close(self) -> None:
        self._file.close()
        super().close()

    @property
    def is_exhausted(self) -> bool:
        """Tell whether every byte of the slice was read."""
        return self._left == 0


class FileSlice(io.RawIOBase):
    """A seekable window onto ``size`` bytes of a file starting at ``offset``."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._file: io.BufferedReader = path.open("rb")
        self._start = offset
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        self._position = min(max(base[whence] + offset, 0), self._size)
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)[: self._size - self._position]
        self._file.seek(self._start + self._position)
        count = self._file.readinto(view) or 0
        self._position += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


class HashingReader(io.RawIOBase):
    """Pass reads through to another stream and hash them."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self.hasher.update(data)
        return count


def open_decompressed(raw: io.RawIOBase, compression: Compression) -> IO[bytes]:
    """Wrap a raw blob stream in the decompressor its magic bytes call for."""
    buffered = io.BufferedReader(raw, CHUNK_BYTES)
    if compression is Compression.GZIP:
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb"))
    if compression is Compression.ZSTD:
        reader = zstandard.ZstdDecompressor().stream_reader(
            buffered, read_size=CHUNK_BYTES, read_across_frames=True
        )
        return io.BufferedReader(reader, CHUNK_BYTES)
    if compression is Compression.BZIP2:
        return bz2.BZ2File(buffered, mode="rb")
    if compression is Compression.XZ:
        return lzma.LZMAFile(buffered, mode="rb")
    return buffered


def tar_end_problem(handle: IO[bytes]) -> str:
    """Say what is wrong with the bytes after where a tar reader stopped.

    Python's tarfile ends silently at a damaged header, so the caller hands
    the stream positioned there. Docker's reader accepts nothing but zero
    blocks after the last member (none, one, or two and more). Returns ""
    when the end is clean.
    """
    length = 0
    while chunk := handle.read(CHUNK_BYTES):
        if chunk.count(0) != len(chunk):
            return "the data after the last good entry is not a tar header"
        length += len(chunk)
    if length in (0, 512) or length >= 1024:
        return ""
    return "the file ends in the middle of a tar block"


def drain(stream: IO[bytes]) -> None:
    """Read a stream to its end (so hashes cover every byte)."""
    while stream.read(CHUNK_BYTES):
        pass


def hash_in_background(
    path: Path, offset: int = 0, size: int | None = None
) -> Future[str]:
    """Start hashing (part of) a file on another thread; yields the hex sha256.

    hashlib and file reads release the GIL, so on two cores this runs beside
    the layer parsing almost for free.
    """
    future: Future[str] = Future()

    def work() -> None:
        try:
            future.set_result(sha256_of_file(path, offset, size))
        except OSError as exc:
            future.set_exception(exc)

    threading.Thread(target=work, name="sha256", daemon=True).start()
    return future


def sha256_of_file(path: Path, offset: int = 0, size: int | None = None) -> str:
    """Return the hex sha256 of a file, or of *size* bytes from *offset*."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    left = size if size is not None else -1
    with path.open("rb", buffering=0) as handle:
        handle.seek(offset)
        while left:
            want = CHUNK_BYTES if left < 0 else min(CHUNK_BYTES, left)
            count = handle.readinto(view[:want])
            if not count:
                break
            digest.update(view[:count])
            left -= count if left > 0 else 0
    return digest.hexdigest()


def file_size(path: Path) -> int:
    """Return a file's size in bytes."""
    return os.stat(path).st_size
