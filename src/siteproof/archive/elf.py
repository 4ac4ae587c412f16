"""Read the facts siteproof needs from the first bytes of an ELF file.

The reader hands over at most the first 2 MiB of each file, so everything
here works on partial data: what lies beyond it is reported as unknown,
never guessed, and bad bytes give None instead of an exception.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, replace

from siteproof.archive.model import ElfFacts

log = logging.getLogger(__name__)

ELF_MAGIC = b"\x7fELF"
JEMALLOC_MARKER = b"<jemalloc>"
# How many leading bytes of a file the reader passes to parse_elf.
ELF_READ_LIMIT = 2 * 1024 * 1024

ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB = 0, 1, 5
DT_RPATH, DT_RUNPATH = 15, 29

# A corrupt header must not make us walk millions of entries.
_MAX_PROGRAM_HEADERS = 4096
_MAX_DYNAMIC_ENTRIES = 8192

# e_machine -> OCI architecture name, for ELF files whose name does not
# depend on class or byte order.
MACHINE_ARCH: dict[int, str] = {
    3: "386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "arm",
    62: "amd64",
    183: "arm64",
    243: "riscv64",
    258: "loong64",
}

# What an ELF built for each site architecture carries: machine, class
# (32/64) and byte order (True for little-endian).
SITE_ELF: dict[str, tuple[int, int, bool]] = {
    "arm64": (183, 64, True),
    "amd64": (62, 64, True),
    "s390x": (22, 64, False),
    "386": (3, 32, True),
    "arm": (40, 32, True),
    "riscv64": (243, 64, True),
    "loong64": (258, 64, True),
    "ppc64le": (21, 64, True),
    "mips64le": (8, 64, True),
    "mipsle": (8, 32, True),
    "mips64": (8, 64, False),
    "mips": (8, 32, False),
}


def arch_name(facts: ElfFacts) -> str:
    """Return the OCI architecture name of an ELF file (``machine-N`` if unknown)."""
    key = (facts.machine, facts.bits, facts.little_endian)
    for arch, expected in SITE_ELF.items():
        if expected == key:
            return arch
    if facts.machine == 62 and facts.bits == 32:
        return "amd64p32"
    return MACHINE_ARCH.get(facts.machine, f"machine-{facts.machine}")


def matches_arch(facts: ElfFacts, arch: str) -> bool:
    """Tell whether a CPU of OCI architecture *arch* runs this ELF natively."""
    expected = SITE_ELF.get(arch)
    if expected is None:
        return arch_name(facts) == arch
    return (facts.machine, facts.bits, facts.little_endian) == expected


@dataclass(frozen=True, slots=True)
class _Layout:
    """Byte order and field widths of one ELF class."""

    endian: str
    header: str
    program_header: str
    dyn: str

    def unpack(self, fmt: str, data: bytes, offset: int) -> tuple[int, ...]:
        return struct.unpack_from(self.endian + fmt, data, offset)

    def size(self, fmt: str) -> int:
        return struct.calcsize(self.endian + fmt)


# e_type .. e_shstrndx, after the 16 bytes of e_ident.
_HEADER = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
_PROGRAM_HEADER = {32: "IIIIIIII", 64: "IIQQQQQQ"}
_DYN = {32: "iI", 64: "qQ"}


@dataclass(frozen=True, slots=True)
class _Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int
    align: int


@dataclass(frozen=True, slots=True)
class _Headers:
    """The ELF header fields we use and the program headers, if readable."""

    layout: _Layout
    bits: int
    elf_type: int
    machine: int
    segments: list[_Segment] | None


def parse_elf(
    data: bytes,
    *,
    file_size: int,
    has_jemalloc: bool = False,
    dynamic: bytes | None = None,
) -> ElfFacts | None:
    """Return what the ELF headers in *data* say, or None if it is not ELF.

    Args:
        data: the first ``min(file_size, 2 MiB)`` bytes of the file.
        file_size: the whole file's size in bytes.
        has_jemalloc: the caller found :data:`JEMALLOC_MARKER` in the file.
        dynamic: the bytes of the range :func:`dynamic_range` named, for a
            large file whose dynamic section lies beyond *data*.

    Returns:
        the facts, with ``needed=None`` when the dynamic section or its
        string table lies beyond what was given; None for anything that is
        not a well-formed ELF header (never an exception).
    """
    headers = _read_headers(data)
    if headers is None:
        return None
    facts = ElfFacts(
        machine=headers.machine,
        bits=headers.bits,
        little_endian=headers.layout.endian == "<",
        elf_type=headers.elf_type,
        has_jemalloc=has_jemalloc,
    )
    if headers.segments is None:
        return replace(facts, needed=None)
    try:
        return _with_segments(facts, data, headers, file_size, dynamic)
    except (struct.error, ValueError, OverflowError):
        log.debug("unreadable ELF dynamic section (%d bytes given)", len(data))
        return replace(facts, needed=None)


def dynamic_range(data: bytes) -> tuple[int, int] | None:
    """Return (offset, size) of the dynamic section when it lies beyond *data*.

    A reader that streams a large file can keep those bytes and pass them to
    :func:`parse_elf` as ``dynamic``; the string table it refers to is
    usually near the start of the file.
    """
    headers = _read_headers(data)
    segments = headers.segments if headers else None
    for segment in segments or ():
        if segment.type == PT_DYNAMIC and segment.offset + segment.filesz > len(data):
            return segment.offset, segment.filesz
    return None


class SpanCollector:
    """Keep the bytes of one range of a file while the file streams past.

    For use with :func:`dynamic_range`: create it with the range and the
    number of bytes already read, feed it every later chunk, then pass
    :meth:`data` to :func:`parse_elf` as ``dynamic``.
    """

    def __init__(self, start: int, size: int, *, position: int) -> None:
        self.start = start
        self.end = start + size
        self.position = position
        self._parts: list[bytes] = []

    @property
    def is_complete(self) -> bool:
        """Tell whether the stream has passed the end of the range."""
        return self.position >= self.end

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the file."""
        low = max(self.start - self.position, 0)
        high = min(self.end - self.position, len(chunk))
        if low < high:
            self._parts.append(chunk[low:high])
        self.position += len(chunk)

    def data(self) -> bytes | None:
        """Return the range's bytes, or None if the file ended before it did."""
        return b"".join(self._parts) if self.is_complete else None


def _read_headers(data: bytes) -> _Headers | None:
    if len(data) < 16 or not data.startswith(ELF_MAGIC):
        return None
    bits = {1: 32, 2: 64}.get(data[4])
    endian = {1: "<", 2: ">"}.get(data[5])
    if bits is None or endian is None:
        return None
    layout = _Layout(endian, _HEADER[bits], _PROGRAM_HEADER[bits], _DYN[bits])
    try:
        header = layout.unpack(layout.header, data, 16)
    except struct.error:
        return None
    elf_type, machine, phoff, phentsize, phnum = (
        header[0],
        header[1],
        header[4],
        header[8],
        header[9],
    )
    try:
        segments = _segments(data, layout, phoff, phentsize, phnum)
    except (struct.error, OverflowError):
        segments = None
    return _Headers(layout, bits, elf_type, machine, segments)


def _with_segments(
    facts: ElfFacts,
    data: bytes,
    headers: _Headers,
    file_size: int,
    dynamic: bytes | None,
) -> ElfFacts:
    segments = headers.segments or []
    loads = [s for s in segments if s.type == PT_LOAD]
    interpreter = None
    for segment in segments:
        if segment.type == PT_INTERP:
            interpreter = _interpreter(data, segment, file_size)
    needed, rpath = _dynamic(data, headers.layout, segments, loads, dynamic)
    return replace(
        facts,
        interpreter=interpreter,
        needed=needed,
        rpath=rpath,
        min_load_align=min((s.align for s in loads), default=None),
    )


def _segments(
    data: bytes, layout: _Layout, phoff: int, phentsize: int, phnum: int
) -> list[_Segment] | None:
    """Return the program headers, or None when they are not all in *data*."""
    if phnum == 0:
        return []
    if phentsize < layout.size(layout.program_header) or phnum > _MAX_PROGRAM_HEADERS:
        return None
    if phoff + phentsize * phnum > len(data):
        return None
    segments = []
    for index in range(phnum):
        fields = layout.unpack(layout.program_header, data, phoff + index * phentsize)
        if layout.program_header == _PROGRAM_HEADER[64]:
            p_type, _, offset, vaddr, _, filesz, _, align = fields
        else:
            p_type, offset, vaddr, _, filesz, _, _, align = fields
        segments.append(_Segment(p_type, offset, vaddr, filesz, align))
    return segments


def _interpreter(data: bytes, segment: _Segment, file_size: int) -> str | None:
    end = segment.offset + segment.filesz
    if end > min(len(data), file_size) or segment.filesz == 0:
        return None
    raw = data[segment.offset : end].split(b"\0", 1)[0]
    return raw.decode("utf-8", errors="replace") or None


def _dynamic(
    data: bytes,
    layout: _Layout,
    segments: list[_Segment],
    loads: list[_Segment],
    extra: bytes | None,
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """Return DT_NEEDED names (None if unreadable) and RPATH+RUNPATH dirs."""
    dynamic = next((s for s in segments if s.type == PT_DYNAMIC), None)
    if dynamic is None:
        return (), ()
    if dynamic.offset + dynamic.filesz <= len(data):
        section = data[dynamic.offset : dynamic.offset + dynamic.filesz]
    elif extra is not None and len(extra) >= dynamic.filesz:
        section = extra[: dynamic.filesz]
    else:
        return None, ()
    tags = _dynamic_tags(section, layout)
    strtab = next((value for tag, value in tags if tag == DT_STRTAB), None)
    offset = None if strtab is None else _file_offset(loads, strtab)
    if offset is None:
        return None, ()
    return _names(data, offset, tags)


def _names(
    data: bytes, strtab: int, tags: list[tuple[int, int]]
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """Look the DT_NEEDED, DT_RPATH and DT_RUNPATH strings up in the table."""
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    for tag, value in tags:
        if tag not in (DT_NEEDED, DT_RPATH, DT_RUNPATH):
            continue
        text = _string_at(data, strtab + value)
        if text is None:
            return None, ()
        if tag == DT_NEEDED:
            needed.append(text)
        else:
            (rpath if tag == DT_RPATH else runpath).extend(
                d for d in text.split(":") if d
            )
    return tuple(needed), tuple(rpath + runpath)


def _dynamic_tags(section: bytes, layout: _Layout) -> list[tuple[int, int]]:
    size = layout.size(layout.dyn)
    count = min(len(section) // size, _MAX_DYNAMIC_ENTRIES)
    tags = []
    for index in range(count):
        tag, value = layout.unpack(layout.dyn, section, index * size)
        if tag == DT_NULL:
            break
        tags.append((tag, value))
    return tags


def _file_offset(loads: list[_Segment], vaddr: int) -> int | None:
    """Map a virtual address to a file offset through the PT_LOAD segments."""
    for load in loads:
        if load.vaddr <= vaddr < load.vaddr + load.filesz:
            return vaddr - load.vaddr + load.offset
    return None


def _string_at(data: bytes, offset: int) -> str | None:
    end = data.find(b"\0", offset)
    if offset >= len(data) or end < 0:
        return None
    return data[offset:end].decode("utf-8", errors="replace")
