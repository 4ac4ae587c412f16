"""Check 4: shebang interpreters and Windows line endings in scripts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from siteproof.preflight.scripts import Shebang, parse_shebang
from support.preflight_samples import Preflight, TreeBuilder, codes

ElfBytes = Callable[[str], bytes]
BASH = ("/bin/bash", "-c", "true")
JEMALLOC = "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"#!/bin/sh\necho", Shebang("/bin/sh", "", has_cr=False)),
        (b"#! /bin/bash -eu \n", Shebang("/bin/bash", "-eu", has_cr=False)),
        (b"#!/bin/sh\r\necho\r\n", Shebang("/bin/sh\r", "", has_cr=True)),
        (b"#!/usr/bin/env python3\n", Shebang("/usr/bin/env", "python3", False)),
        (b"#!/bin/sh", Shebang("/bin/sh", "", has_cr=False)),
    ],
)
def test_parse_shebang_splits_like_the_kernel(head: bytes, expected: Shebang) -> None:
    assert parse_shebang(head) == expected


@pytest.mark.parametrize(
    ("argument", "program"),
    [
        ("python3", "python3"),
        ("python3 -u", "python3 -u"),
        ("-S python3 -u", "python3"),
        ("-S PYTHONUNBUFFERED=1 python3", "python3"),
        ("-i", None),
    ],
)
def test_shebang_env_program_follows_env_rules(
    argument: str, program: str | None
) -> None:
    assert Shebang("/usr/bin/env", argument, False).env_program() == program


def test_check_scripts_rejects_crlf_shebang_of_start_script(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/run.sh", b"#!/bin/sh\r\nexec true\r\n")

    findings = preflight(tree, image={"cmd": ("/app/run.sh",)})

    assert ("error", "shebang-crlf", "/app/run.sh") in codes(findings)
    crlf = next(f for f in findings if f.code == "shebang-crlf")
    assert "/bin/sh^M: bad interpreter" in crlf.message
    assert "exec /app/run.sh: no such file or directory" in crlf.message
    assert ("warning", "script-crlf", "/app/run.sh") in codes(findings)


def test_check_scripts_grades_crlf_shebang_by_execute_bit(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/tool.sh", b"#!/bin/bash\r\necho\r\n", mode=0o755)
    tree.file("/app/notes.sh", b"#!/bin/bash\r\necho\r\n", mode=0o644)

    findings = preflight(tree, image={"cmd": BASH})

    assert ("error", "shebang-crlf", "/app/tool.sh") in codes(findings)
    assert ("warning", "shebang-crlf", "/app/notes.sh") in codes(findings)


def test_check_scripts_warns_about_crlf_body_of_shell_scripts_only(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/start", b"#!/bin/sh\necho a\r\necho b\r\n")
    tree.file("/app/tool.py", b"#!/usr/bin/python3\nprint(1)\r\n", mode=0o644)

    findings = preflight(tree, image={"cmd": BASH})

    assert ("warning", "script-crlf", "/app/start") in codes(findings)
    assert "/app/tool.py" not in [f.path for f in findings if f.code == "script-crlf"]


def test_check_scripts_rejects_missing_interpreter_of_start_script(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/main.py", "#!/usr/bin/python3\nprint('hi')\n")

    findings = preflight(tree, image={"cmd": ("/app/main.py",)})

    assert [c for c in codes(findings) if c[0] == "error"] == [
        ("error", "interpreter-missing", "/app/main.py")
    ]
    assert "/usr/bin/python3 is not in the image" in findings[0].message


def test_check_scripts_only_warns_for_scripts_outside_start_chain(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/usr/bin/helper", "#!/usr/bin/perl\nprint 1;\n")
    tree.file("/usr/share/doc/example", "#!/usr/bin/ruby\n", mode=0o644)

    findings = preflight(tree, image={"cmd": BASH})

    assert codes(findings) == [
        ("warning", "interpreter-missing", "/usr/bin/helper"),
        (
            "warning",
            "jemalloc-page-size",
            "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
        ),
    ]


def test_check_scripts_resolves_env_program_through_path(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/bin/env", elf_bytes("busybox-arm64"))
    tree.file("/app/main.py", "#!/usr/bin/env python3\nprint('hi')\n")

    missing = preflight(tree, image={"cmd": ("/app/main.py",)})
    tree.file("/usr/local/bin/python3", elf_bytes("busybox-arm64"))
    found = preflight(tree, image={"cmd": ("/app/main.py",)})

    assert ("error", "interpreter-missing", "/app/main.py") in codes(missing)
    assert "/usr/bin/env: 'python3': No such file or directory" in missing[0].message
    assert [c for c in codes(found) if c[0] == "error"] == []


def test_check_scripts_requires_env_itself(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/main.py", "#!/usr/bin/env -S python3 -u\n")

    findings = preflight(tree, image={"cmd": ("/app/main.py",)})

    assert ("error", "interpreter-missing", "/app/main.py") in codes(findings)
    assert "/usr/bin/env is not in the image" in findings[0].message


def test_check_scripts_follows_interpreter_into_its_libraries(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/run", "#!/bin/bash\nexec true\n")
    tree.remove("/lib/aarch64-linux-gnu/libtinfo.so.6")

    findings = preflight(tree, image={"cmd": ("/app/run",)})

    assert [c for c in codes(findings) if c[0] == "error"] == [
        ("error", "library-missing", "/bin/bash")
    ]
