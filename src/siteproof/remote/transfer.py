"""The upload protocol, apart from the SSH library: shell scripts and wire codecs.

An upload streams the file into ``REMOTE.part`` through one remote command
that decompresses, appends to the part file and hashes at the same time, so
checking the sha256 on the host costs no extra pass over the file. A part
left by an interrupted upload is resumed after its prefix hash matches the
local file's. Only after the hash and size match is the part renamed.
"""

from __future__ import annotations

import shlex
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import zstandard

from siteproof.archive.streams import sha256_of_file
from siteproof.remote.base import ProgressCallback

CHUNK_BYTES = 1 << 20
ZSTD_LEVEL = 3
GZIP_LEVEL = 1
# Below this gain on a sample, compressing only costs CPU (e.g. random data).
MIN_COMPRESSION_RATIO = 1.1
SAMPLE_BYTES = 4 << 20

# NOTE: pipefail is not in every /bin/sh; the size check after the transfer
# catches a failed write where it is missing.
_PIPEFAIL = "(set -o pipefail) 2>/dev/null && set -o pipefail; "


@dataclass(frozen=True)
class UploadJob:
    """One file on its way to the host."""

    local_path: Path
    remote_path: str
    sha256: str
    total: int
    progress: ProgressCallback | None

    def report(self, done: int) -> None:
        """Tell the progress callback, if any, how far the copy is."""
        if self.progress is not None:
            self.progress(done, self.total)


@dataclass(frozen=True)
class RemoteState:
    """What the host has before an upload: tools and any earlier copy."""

    tools: frozenset[str]
    final_size: int | None
    part_size: int | None


@dataclass(frozen=True)
class WireCodec:
    """How bytes travel: a local compressor and the host's matching decoder."""

    name: str
    decode_command: str
    new_compressor: Callable[[], Callable[[bytes | None], bytes]]


def _zstd_compressor() -> Callable[[bytes | None], bytes]:
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()

    def feed(chunk: bytes | None) -> bytes:
        return compressor.compress(chunk) if chunk is not None else compressor.flush()

    return feed


def _gzip_compressor() -> Callable[[bytes | None], bytes]:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)

    def feed(chunk: bytes | None) -> bytes:
        return compressor.compress(chunk) if chunk is not None else compressor.flush()

    return feed


def _plain() -> Callable[[bytes | None], bytes]:
    return lambda chunk: chunk or b""


ZSTD = WireCodec("zstd", "zstd -dcq", _zstd_compressor)
GZIP = WireCodec("gzip", "gzip -dc", _gzip_compressor)
PLAIN = WireCodec("none", "cat", _plain)


def probe_script(remote_path: str) -> str:
    """Return a script that reports tools and existing copies on the host."""
    final, part = shlex.quote(remote_path), shlex.quote(remote_path + ".part")
    folder = shlex.quote(str(Path(remote_path).parent))
    return (
        f"mkdir -p {folder} || exit 1; "
        "for t in zstd gzip sha256sum; do "
        'command -v "$t" >/dev/null 2>&1 && echo "tool $t"; done; '
        f'[ -f {final} ] && echo "final $(wc -c < {final})"; '
        f'[ -f {part} ] && echo "part $(wc -c < {part})"; '
        "exit 0"
    )


def parse_probe(output: str) -> RemoteState:
    """Read probe_script() output."""
    tools: set[str] = set()
    sizes: dict[str, int] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "tool":
            tools.add(value)
        elif key in ("final", "part") and value.strip().isdigit():
            sizes[key] = int(value)
    return RemoteState(frozenset(tools), sizes.get("final"), sizes.get("part"))


def hash_script(path: str, size: int | None = None) -> str:
    """Return a script printing the sha256 of a file (or its first bytes)."""
    quoted = shlex.quote(path)
    if size is None:
        return f"sha256sum < {quoted}"
    return f"head -c {size} {quoted} | sha256sum"


def receive_script(
    remote_path: str, codec: WireCodec, offset: int, sha256: str, total: int
) -> str:
    """Return the command that receives, hashes, checks and renames the file.

    The decoded stream goes through ``tee`` into the part file and, at the
    same time, into ``sha256sum``. With an offset, the part's first
    ``offset`` bytes are kept and hashed first, then the stream is appended.
    The part becomes ``remote_path`` only when the host's hash and the size
    on disk match. The output is read by parse_receipt().
    """
    final, part = shlex.quote(remote_path), shlex.quote(remote_path + ".part")
    if offset == 0:
        feed = f"{codec.decode_command} | tee {part}"
    else:
        feed = (
            f"{{ head -c {offset} {part} && {codec.decode_command} | tee -a {part}; }}"
        )
    return (
        f"{_PIPEFAIL}h=$({feed} | sha256sum) || exit 1; "
        f"s=$(wc -c < {part}) || exit 1; "
        'echo "sha256 ${h%% *}"; echo "size $s"; '
        f'if [ "${{h%% *}}" = {sha256} ] && [ "$s" -eq {total} ]; then '
        f"mv -f {part} {final} && echo renamed; fi"
    )


@dataclass(frozen=True)
class Receipt:
    """What the host reports after receiving: its hash, the size, the rename."""

    sha256: str
    size: int
    renamed: bool


def parse_receipt(output: str) -> Receipt:
    """Read the output of receive_script()."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        fields[key] = value.strip()
    size = fields.get("size", "")
    return Receipt(
        sha256=fields.get("sha256", "").lower(),
        size=int(size) if size.isdigit() else -1,
        renamed="renamed" in fields,
    )


def remove_part_script(remote_path: str) -> str:
    """Return a script deleting the part file."""
    return f"rm -f {shlex.quote(remote_path + '.part')}"


def parse_hash(output: str) -> str:
    """Return the hex digest from ``sha256sum`` output, or ''."""
    fields = output.split()
    return fields[0].lower() if fields else ""


def choose_codec(tools: frozenset[str], sample: bytes) -> WireCodec:
    """Pick the wire codec: zstd, else gzip, else none; none if it does not pay.

    Args:
        tools: commands available on the host.
        sample: the first bytes still to send, to judge compressibility.
    """
    if "zstd" in tools:
        codec = ZSTD
    elif "gzip" in tools:
        codec = GZIP
    else:
        return PLAIN
    if not sample:
        return codec
    compress = codec.new_compressor()
    packed = len(compress(sample)) + len(compress(None))
    return codec if len(sample) / max(packed, 1) >= MIN_COMPRESSION_RATIO else PLAIN


def read_chunks(path: Path, offset: int) -> Iterator[bytes]:
    """Yield the file's bytes from ``offset`` on, in CHUNK_BYTES pieces."""
    with path.open("rb") as stream:
        stream.seek(offset)
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk


def read_sample(path: Path, offset: int) -> bytes:
    """Return up to SAMPLE_BYTES of the file from ``offset``."""
    with path.open("rb") as stream:
        stream.seek(offset)
        return stream.read(SAMPLE_BYTES)


def hash_prefix(path: Path, size: int) -> str:
    """Return the sha256 hex digest of the file's first ``size`` bytes."""
    return sha256_of_file(path, 0, size)
