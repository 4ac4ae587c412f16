"""The ELF parser, on real binaries from Debian packages and this machine."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

import pytest

from siteproof.archive.elf import (
    ELF_READ_LIMIT,
    JEMALLOC_MARKER,
    SITE_ELF,
    SpanCollector,
    arch_name,
    dynamic_range,
    matches_arch,
    parse_elf,
)
from siteproof.archive.model import ElfFacts

ElfBytes = Callable[[str], bytes]


def _parse(data: bytes, limit: int = ELF_READ_LIMIT) -> ElfFacts:
    facts = parse_elf(
        data[:limit], file_size=len(data), has_jemalloc=JEMALLOC_MARKER in data
    )
    assert facts is not None
    return facts


def test_parse_elf_reads_static_arm64_busybox(elf_bytes: ElfBytes) -> None:
    facts = _parse(elf_bytes("busybox-arm64"))

    assert (facts.machine, facts.bits, facts.little_endian) == (183, 64, True)
    assert facts.elf_type == 2
    assert facts.interpreter is None
    assert facts.needed == ()
    assert facts.min_load_align == 0x10000
    assert arch_name(facts) == "arm64"


def test_parse_elf_reads_big_endian_s390x(elf_bytes: ElfBytes) -> None:
    facts = _parse(elf_bytes("busybox-s390x"))

    assert (facts.machine, facts.bits, facts.little_endian) == (22, 64, False)
    assert facts.min_load_align == 0x1000
    assert arch_name(facts) == "s390x"
    assert not matches_arch(facts, "arm64")


def test_parse_elf_reads_dynamic_arm64_bash(elf_bytes: ElfBytes) -> None:
    facts = _parse(elf_bytes("bash-arm64"))

    assert facts.elf_type == 3
    assert facts.interpreter == "/lib/ld-linux-aarch64.so.1"
    assert facts.needed == ("libtinfo.so.6", "libc.so.6", "ld-linux-aarch64.so.1")
    assert facts.rpath == ()
    assert matches_arch(facts, "arm64")


def test_parse_elf_reads_host_x86_64_program(elf_bytes: ElfBytes) -> None:
    facts = _parse(elf_bytes("host-ls"))

    assert arch_name(facts) == "amd64"
    assert facts.interpreter is not None
    assert facts.interpreter.endswith("ld-linux-x86-64.so.2")
    assert facts.needed is not None
    assert "libc.so.6" in facts.needed


def test_parse_elf_passes_jemalloc_flag(elf_bytes: ElfBytes) -> None:
    data = elf_bytes("jemalloc-arm64")

    assert JEMALLOC_MARKER in data
    assert _parse(data).has_jemalloc
    assert not _parse(elf_bytes("bash-arm64")).has_jemalloc


def test_parse_elf_reads_runpath_with_origin(linked_elves: dict[str, bytes]) -> None:
    facts = _parse(linked_elves["prog64"])

    assert facts.needed == ("libdemo.so.1",)
    assert facts.rpath == ("$ORIGIN/../lib", "/opt/x")
    assert facts.interpreter == "/lib64/ld-linux-x86-64.so.2"


def test_parse_elf_reads_elf32_with_rpath(linked_elves: dict[str, bytes]) -> None:
    facts = _parse(linked_elves["prog32"])

    assert (facts.machine, facts.bits) == (3, 32)
    assert facts.needed == ("libdemo32.so",)
    assert facts.rpath == ("/r32",)
    assert facts.interpreter == "/lib/ld-linux.so.2"
    assert arch_name(facts) == "386"
    assert not matches_arch(facts, "amd64")


def test_parse_elf_marks_libraries_unknown_beyond_given_bytes(
    elf_bytes: ElfBytes,
) -> None:
    data = elf_bytes("bash-arm64")

    facts = _parse(data, limit=64 * 1024)

    assert facts.needed is None
    assert facts.interpreter == "/lib/ld-linux-aarch64.so.1"
    assert facts.min_load_align == 0x10000


def test_parse_elf_reads_late_dynamic_section_passed_separately(
    elf_bytes: ElfBytes,
) -> None:
    data = elf_bytes("bash-arm64")
    head = data[: 256 * 1024]

    span = dynamic_range(head)
    assert span is not None
    offset, size = span
    facts = parse_elf(head, file_size=len(data), dynamic=data[offset : offset + size])

    assert facts is not None
    assert facts.needed == ("libtinfo.so.6", "libc.so.6", "ld-linux-aarch64.so.1")
    assert dynamic_range(data) is None


def test_span_collector_gathers_dynamic_section_from_chunks(
    elf_bytes: ElfBytes,
) -> None:
    data = elf_bytes("bash-arm64")
    head = data[: 256 * 1024]
    span = dynamic_range(head)
    assert span is not None
    collector = SpanCollector(*span, position=len(head))

    for start in range(len(head), len(data), 4096):
        assert not collector.is_complete
        collector.feed(data[start : start + 4096])
        if collector.is_complete:
            break

    assert collector.data() == data[span[0] : span[0] + span[1]]
    facts = parse_elf(head, file_size=len(data), dynamic=collector.data())
    assert facts is not None
    assert facts.needed == ("libtinfo.so.6", "libc.so.6", "ld-linux-aarch64.so.1")


def test_span_collector_gives_none_when_file_ends_early() -> None:
    collector = SpanCollector(100, 50, position=90)
    collector.feed(b"x" * 30)

    assert collector.data() is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"#!/bin/sh\n",
        b"\x7fELF",
        b"\x7fELF\x02\x01\x01" + b"\0" * 9,
        b"\x7fELF\x03\x01\x01" + b"\0" * 60,
        b"\x7fELF\x02\x07\x01" + b"\0" * 60,
    ],
)
def test_parse_elf_returns_none_for_non_elf_or_truncated_header(data: bytes) -> None:
    assert parse_elf(data, file_size=len(data)) is None


def test_parse_elf_never_raises_on_truncated_real_binary(elf_bytes: ElfBytes) -> None:
    data = elf_bytes("bash-arm64")

    for cut in (20, 52, 64, 100, 200, 400, 4096):
        facts = parse_elf(data[:cut], file_size=len(data))
        assert facts is None or facts.machine == 183


def test_parse_elf_survives_garbage_program_headers(elf_bytes: ElfBytes) -> None:
    data = bytearray(elf_bytes("bash-arm64")[:4096])
    struct.pack_into("<Q", data, 32, 2**62)  # e_phoff far beyond the file
    facts = parse_elf(bytes(data), file_size=10**6)

    assert facts is not None
    assert facts.needed is None
    assert facts.min_load_align is None


def test_site_elf_expects_the_machine_of_each_site_arch(elf_bytes: ElfBytes) -> None:
    assert SITE_ELF["arm64"] == (183, 64, True)
    assert matches_arch(_parse(elf_bytes("busybox-amd64")), "amd64")
    assert not matches_arch(_parse(elf_bytes("busybox-amd64")), "arm64")


def test_parse_elf_never_raises_on_corrupted_headers(elf_bytes: ElfBytes) -> None:
    rng = random.Random(1234)
    original = elf_bytes("bash-arm64")[: 256 * 1024]
    parsed = 0

    for _ in range(400):
        data = bytearray(original)
        for _ in range(rng.randint(1, 16)):
            data[rng.randrange(16, 1024)] = rng.randrange(256)
        facts = parse_elf(bytes(data), file_size=len(original))
        parsed += facts is not None

    assert parsed > 0
