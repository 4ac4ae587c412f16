"""Check 3, continued: wrappers (tini, gosu) and interpreters' script files."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from siteproof.preflight.launchers import script_argument, unwrap
from support.preflight_samples import Preflight, TreeBuilder, codes

ElfBytes = Callable[[str], bytes]


def _errors(findings: list) -> list[tuple[str, str, str | None]]:
    return [c for c in codes(findings) if c[0] == "error"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("tini", "--", "app", "-x"), ("tini", ("app", "-x"))),
        (("/sbin/tini", "-s", "-p", "SIGTERM", "--", "app"), ("tini", ("app",))),
        (("dumb-init", "app"), ("dumb-init", ("app",))),
        (("gosu", "app", "server", "--port"), ("gosu", ("server", "--port"))),
        (("su-exec", "1000:1000", "server"), ("su-exec", ("server",))),
        (("env", "A=1", "-u", "B", "server"), ("env", ("server",))),
        (("tini", "--"), None),
        (("app", "tini"), None),
    ],
)
def test_unwrap_finds_the_wrapped_command(
    argv: tuple[str, ...], expected: tuple[str, tuple[str, ...]] | None
) -> None:
    assert unwrap(argv) == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("python3", "-u", "app.py"), ("python", "app.py")),
        (
            ("/usr/bin/python3.11", "-W", "ignore", "main.py", "x"),
            ("python", "main.py"),
        ),
        (("python", "-m", "http.server"), None),
        (("python3", "-c", "print(1)"), None),
        (
            ("node", "--max-old-space-size=512", "-r", "dotenv/config", "s.js"),
            ("node", "s.js"),
        ),
        (("node", "-e", "1"), None),
        (("sh", "-e", "/start.sh"), ("sh", "/start.sh")),
        (("bash", "-ec", "run"), None),
        (("java", "-Xmx1g", "-jar", "app.jar"), ("java", "app.jar")),
        (("perl", "-e", "1"), None),
        (("ruby", "app.rb"), ("other", "app.rb")),
        (("gunicorn", "app:app"), None),
    ],
)
def test_script_argument_finds_the_interpreters_file(
    argv: tuple[str, ...], expected: tuple[str, str] | None
) -> None:
    assert script_argument(argv) == expected


def test_check_start_command_follows_tini_to_the_real_program(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/sbin/tini", elf_bytes("busybox-arm64"))

    missing = preflight(tree, image={"entrypoint": ("tini", "--"), "cmd": ("app",)})
    tree.file("/usr/local/bin/app", elf_bytes("busybox-s390x"))
    foreign = preflight(tree, image={"entrypoint": ("tini", "--"), "cmd": ("app",)})

    assert _errors(missing) == [("error", "command-not-found", "app")]
    assert "tini starts, then fails: exec app failed" in missing[0].message
    start = next(f for f in foreign if f.code == "exec-format-error")
    assert start.path == "/usr/local/bin/app"
    assert "tini: exec /usr/local/bin/app failed: exec format error" in start.message


def test_check_start_command_follows_gosu_then_shell_form(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/sbin/gosu", elf_bytes("busybox-arm64"))
    argv = ("gosu", "app", "sh", "-c", "exec server")

    findings = preflight(tree, image={"cmd": argv})

    assert _errors(findings) == [("error", "shell-command-not-found", "server")]


def test_check_start_command_requires_the_python_script_file(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/bin/python3", elf_bytes("busybox-arm64"))
    tree.file("/srv/app/main.py", "print('hi')\n", mode=0o644)
    image = {"cmd": ("python3", "main.py"), "working_dir": "/srv/app"}

    found = preflight(tree, image=image)
    moved = preflight(tree, image=image, site={"workdir": "/srv"})

    assert _errors(found) == []
    assert _errors(moved) == [("error", "script-missing", "/srv/main.py")]
    assert "python3: can't open file '/srv/main.py': [Errno 2]" in moved[0].message


def test_check_start_command_requires_the_shell_script_file(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={"cmd": ("bash", "/docker-entrypoint.sh")})

    assert _errors(findings) == [("error", "script-missing", "/docker-entrypoint.sh")]


def test_check_start_command_follows_shell_form_into_script_file(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/bin/python3", elf_bytes("busybox-arm64"))
    script = "cd /srv && exec python3 -u /srv/app/main.py --port $PORT 2>&1"

    findings = preflight(tree, image={"cmd": ("/bin/sh", "-c", script)})

    assert _errors(findings) == [("error", "script-missing", "/srv/app/main.py")]


def test_check_start_command_follows_shell_form_into_wrapper(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/sbin/gosu", elf_bytes("busybox-arm64"))

    findings = preflight(
        tree, image={"cmd": ("sh", "-c", "exec gosu app /usr/local/bin/server")}
    )

    assert _errors(findings) == [
        ("error", "command-not-found", "/usr/local/bin/server")
    ]


def test_check_start_command_skips_script_paths_with_expansions(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/bin/python3", elf_bytes("busybox-arm64"))

    findings = preflight(tree, image={"cmd": ("sh", "-c", "python3 $APP_DIR/m.py")})

    assert _errors(findings) == []
