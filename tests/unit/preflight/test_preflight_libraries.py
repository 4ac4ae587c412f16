"""Check 5: the dynamic loader and shared libraries of the start program."""

from __future__ import annotations

from dataclasses import replace

from support.preflight_samples import Preflight, TreeBuilder, codes

AMD64_SITE = {"platform": "linux/amd64", "page_size": "4k"}
TINFO = "/lib/aarch64-linux-gnu/libtinfo.so.6"


def _errors(findings: list) -> list[tuple[str, str, str | None]]:
    return [c for c in codes(findings) if c[0] == "error"]


def test_check_libraries_rejects_missing_loader(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.remove("/lib/ld-linux-aarch64.so.1")

    findings = preflight(tree, image={"cmd": ("/bin/bash",)})

    assert _errors(findings) == [("error", "loader-missing", "/bin/bash")]
    assert "/lib/ld-linux-aarch64.so.1" in findings[0].message
    assert "exec /bin/bash: no such file or directory" in findings[0].message


def test_check_libraries_rejects_missing_library_of_start_program(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.remove(TINFO)

    findings = preflight(tree, image={"cmd": ("/bin/bash",)})

    assert _errors(findings) == [("error", "library-missing", "/bin/bash")]
    assert "libtinfo.so.6: cannot open shared object file" in findings[0].message


def test_check_libraries_follows_libraries_of_libraries(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    # libjemalloc needs libstdc++ and libgcc_s, which this root lacks.
    tree.remove(TINFO)
    tree.symlink(TINFO, "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2")

    findings = preflight(tree, image={"cmd": ("/bin/bash",)})

    missing = [f for f in findings if f.code == "library-missing"]
    assert [f.path for f in missing] == [TINFO, TINFO]
    assert "/bin/bash: error while loading shared libraries: libgcc_s.so.1" in (
        missing[0].message
    )
    assert f"(needed by {TINFO})" in missing[1].message


def test_check_libraries_reads_ld_so_conf_includes(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.remove(TINFO)
    tree.move("/lib/aarch64-linux-gnu/libtinfo.so.6.4", "/opt/ncurses/libtinfo.so.6")

    missing = preflight(tree, image={"cmd": ("/bin/bash",)})
    tree.file("/etc/ld.so.conf.d/ncurses.conf", "/opt/ncurses\n", mode=0o644)
    found = preflight(tree, image={"cmd": ("/bin/bash",)})

    assert _errors(missing) == [("error", "library-missing", "/bin/bash")]
    assert _errors(found) == []


def test_check_libraries_uses_ld_library_path(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.remove(TINFO)
    tree.move("/lib/aarch64-linux-gnu/libtinfo.so.6.4", "/srv/lib/libtinfo.so.6")
    image = {"cmd": ("/bin/bash",)}
    site = {"env": {"LD_LIBRARY_PATH": "/srv/lib"}}

    assert _errors(preflight(tree, image=image))[0][1] == "library-missing"
    assert _errors(preflight(tree, image=image, site=site)) == []


def test_check_libraries_expands_origin_in_runpath(
    preflight: Preflight, linked_elves: dict[str, bytes]
) -> None:
    tree = TreeBuilder()
    tree.file("/lib64/ld-linux-x86-64.so.2", linked_elves["libdemo.so.1"])
    tree.file("/opt/app/bin/prog", linked_elves["prog64"])
    image = {"architecture": "amd64", "cmd": ("/opt/app/bin/prog",)}

    missing = preflight(tree, image=image, site=AMD64_SITE)
    tree.file("/opt/app/lib/libdemo.so.1", linked_elves["libdemo.so.1"])
    found = preflight(tree, image=image, site=AMD64_SITE)

    assert _errors(missing) == [("error", "library-missing", "/opt/app/bin/prog")]
    assert "libdemo.so.1" in missing[0].message
    assert _errors(found) == []


def test_check_libraries_skips_library_of_other_class(
    preflight: Preflight, linked_elves: dict[str, bytes]
) -> None:
    tree = TreeBuilder()
    tree.file("/lib/ld-linux.so.2", linked_elves["libdemo32.so"])
    tree.file("/app/prog32", linked_elves["prog32"])
    tree.file("/r32/libdemo32.so", linked_elves["libdemo.so.1"])  # 64-bit impostor
    image = {"architecture": "386", "cmd": ("/app/prog32",)}
    site = {"platform": "linux/386", "page_size": "4k"}

    wrong_class = preflight(tree, image=image, site=site)
    tree.file("/r32/libdemo32.so", linked_elves["libdemo32.so"])
    right_class = preflight(tree, image=image, site=site)

    assert ("error", "library-missing", "/app/prog32") in codes(wrong_class)
    assert "library-missing" not in [f.code for f in right_class]


def test_check_libraries_notes_unknown_libraries_without_error(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    bash = tree.entries["/bin/bash"]
    assert bash.elf is not None
    tree.entries["/bin/bash"] = replace(bash, elf=replace(bash.elf, needed=None))
    tree.remove(TINFO)

    findings = preflight(tree, image={"cmd": ("/bin/bash",)})

    assert _errors(findings) == []
    assert ("info", "libraries-unknown", "/bin/bash") in codes(findings)
