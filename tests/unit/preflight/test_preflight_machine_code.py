"""Checks 2 and 6: foreign machine code, page-size alignment, jemalloc."""

from __future__ import annotations

import struct
from collections.abc import Callable

from support.preflight_samples import Preflight, TreeBuilder, codes

ElfBytes = Callable[[str], bytes]
BASH = ("/bin/bash", "-c", "true")
JEMALLOC = "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2"


def _with_4k_alignment(data: bytes) -> bytes:
    """Return an ELF64 little-endian file whose PT_LOAD segments say 4 KiB."""
    patched = bytearray(data)
    phoff = struct.unpack_from("<Q", data, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for index in range(phnum):
        header = phoff + index * phentsize
        if struct.unpack_from("<I", data, header)[0] == 1:
            struct.pack_into("<Q", patched, header + 48, 0x1000)
    return bytes(patched)


def test_check_machine_code_clean_debian_root_has_no_errors(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={"cmd": ("bash",)})

    assert [f for f in findings if f.severity.name == "ERROR"] == []
    assert codes(findings) == [("warning", "jemalloc-page-size", JEMALLOC)]


def test_check_machine_code_flags_every_foreign_elf_despite_arm64_label(
    tree: TreeBuilder,
    preflight: Preflight,
    elf_bytes: ElfBytes,
    linked_elves: dict[str, bytes],
) -> None:
    tree.file("/usr/local/bin/tool", elf_bytes("busybox-s390x"))
    tree.file(
        "/app/_speedups.cpython-311-x86_64-linux-gnu.so", linked_elves["libdemo.so.1"]
    )
    tree.file("/app/node_modules/x/build/addon.node", linked_elves["libdemo32.so"])

    findings = preflight(tree, image={"cmd": BASH})

    foreign = [c for c in codes(findings) if c[1] == "foreign-elf"]
    assert foreign == [
        ("error", "foreign-elf", "/app/_speedups.cpython-311-x86_64-linux-gnu.so"),
        ("error", "foreign-elf", "/app/node_modules/x/build/addon.node"),
        ("error", "foreign-elf", "/usr/local/bin/tool"),
    ]
    tool = next(f for f in findings if f.path == "/usr/local/bin/tool")
    assert "s390x" in tool.message
    assert "exec format error" in tool.message
    addon = next(f for f in findings if f.path.endswith("addon.node"))
    assert "386" in addon.message


def test_check_machine_code_accepts_foreign_elf_on_its_own_site(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/local/bin/tool", elf_bytes("busybox-amd64"))

    findings = preflight(
        tree,
        image={"architecture": "amd64", "cmd": ("/usr/local/bin/tool",)},
        site={"platform": "linux/amd64", "page_size": "4k"},
    )

    assert [f for f in findings if f.path == "/usr/local/bin/tool"] == []
    assert ("error", "foreign-elf", "/bin/dash") in codes(findings)


def test_check_machine_code_rejects_4k_aligned_arm64_elf_on_64k_site(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/local/bin/tool", _with_4k_alignment(elf_bytes("busybox-arm64")))

    on_64k = preflight(tree, image={"cmd": BASH})
    on_4k = preflight(tree, image={"cmd": BASH}, site={"page_size": "4k"})

    assert ("error", "page-size", "/usr/local/bin/tool") in codes(on_64k)
    assert "4 KiB" in next(f.message for f in on_64k if f.code == "page-size")
    assert "page-size" not in [f.code for f in on_4k]


def test_check_machine_code_warns_about_jemalloc_only_on_large_pages(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    on_64k = preflight(tree, image={"cmd": BASH})
    on_4k = preflight(tree, image={"cmd": BASH}, site={"page_size": "4k"})

    assert ("warning", "jemalloc-page-size", JEMALLOC) in codes(on_64k)
    assert "Unsupported system page size" in on_64k[0].message
    assert "jemalloc-page-size" not in [f.code for f in on_4k]


def test_check_machine_code_warns_about_jemalloc_linked_into_program(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    program = elf_bytes("busybox-arm64") + b"\0<jemalloc>: Unsupported system page size"
    tree.file("/usr/local/bin/server", program)

    findings = preflight(tree, image={"cmd": BASH})

    assert ("warning", "jemalloc-page-size", "/usr/local/bin/server") in codes(findings)
