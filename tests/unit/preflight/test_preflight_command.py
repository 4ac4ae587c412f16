"""Check 3: the start command, resolved as the engine resolves it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from siteproof.preflight.command import first_command, first_program, shell_script
from support.preflight_samples import Preflight, TreeBuilder, codes

ElfBytes = Callable[[str], bytes]


def _errors(findings: list) -> list[tuple[str, str, str | None]]:
    return [c for c in codes(findings) if c[0] == "error"]


def test_check_start_command_accepts_bare_name_on_path(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    assert _errors(preflight(tree, image={"cmd": ("bash", "-l")})) == []


def test_check_start_command_rejects_bare_name_missing_from_path(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={"cmd": ("gunicorn", "app:app")})

    assert _errors(findings) == [("error", "command-not-found", "gunicorn")]
    assert 'exec: "gunicorn": executable file not found in $PATH' in (
        findings[0].message
    )


def test_check_start_command_uses_image_path_then_site_path(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/opt/app/bin/serve", elf_bytes("busybox-arm64"))
    image = {"cmd": ("serve",), "env": ("PATH=/opt/app/bin:/bin",)}

    assert _errors(preflight(tree, image=image)) == []
    findings = preflight(tree, image=image, site={"env": {"PATH": "/bin"}})
    assert _errors(findings) == [("error", "command-not-found", "serve")]


def test_check_start_command_skips_non_executable_match_on_path(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/usr/local/bin/serve", elf_bytes("busybox-arm64"), mode=0o644)

    findings = preflight(tree, image={"cmd": ("serve",)})

    assert _errors(findings) == [("error", "command-not-found", "serve")]


def test_check_start_command_resolves_relative_path_from_workdir(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/srv/app/run", elf_bytes("busybox-arm64"))
    image = {"cmd": ("./run",), "working_dir": "/srv/app"}

    assert _errors(preflight(tree, image=image)) == []
    moved = preflight(tree, image=image, site={"workdir": "/srv"})
    assert _errors(moved) == [("error", "command-missing", "/srv/run")]
    assert 'exec: "./run": stat ./run: no such file or directory' in moved[0].message


def test_check_start_command_entrypoint_override_drops_image_cmd(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    image = {"entrypoint": ("/bin/missing",), "cmd": ("/bin/also-missing",)}

    assert _errors(preflight(tree, image=image))[0][1] == "command-missing"
    overridden = preflight(tree, image=image, site={"entrypoint": ["/bin/dash"]})
    assert _errors(overridden) == []
    with_cmd = preflight(
        tree, image={"cmd": ("/bin/gone",)}, site={"command": ["/bin/bash"]}
    )
    assert _errors(with_cmd) == []


def test_check_start_command_requires_some_command(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={})

    assert _errors(findings) == [("error", "no-command", None)]
    assert "No command specified" in findings[0].message


def test_check_start_command_follows_symlinks_and_whiteouts(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.symlink("/usr/local/bin/start", "../../../bin/bash")
    assert _errors(preflight(tree, image={"cmd": ("/usr/local/bin/start",)})) == []

    tree.remove("/bin/bash")  # a later layer's whiteout
    findings = preflight(tree, image={"cmd": ("/usr/local/bin/start",)})
    assert _errors(findings) == [("error", "command-missing", "/usr/local/bin/start")]


def test_check_start_command_reports_symlink_loop(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.symlink("/app/a", "b")
    tree.symlink("/app/b", "a")

    findings = preflight(tree, image={"cmd": ("/app/a",)})

    assert _errors(findings) == [("error", "symlink-loop", "/app/a")]
    assert "too many levels of symbolic links" in findings[0].message


def test_check_start_command_rejects_directory(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.dir("/app")

    findings = preflight(tree, image={"cmd": ("/app",)})

    assert _errors(findings) == [("error", "command-not-file", "/app")]
    assert 'exec: "/app": is a directory' in findings[0].message


def test_check_start_command_checks_execute_permission_for_user(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/run.sh", "#!/bin/sh\nexec true\n", mode=0o750, gid=50)

    as_root = preflight(tree, image={"cmd": ("/app/run.sh",)})
    as_staff_member = preflight(tree, image={"cmd": ("/app/run.sh",), "user": "app"})
    as_other = preflight(tree, image={"cmd": ("/app/run.sh",), "user": "4242"})

    assert _errors(as_root) == []
    assert _errors(as_staff_member) == []
    assert _errors(as_other) == [("error", "command-not-executable", "/app/run.sh")]
    assert "exec /app/run.sh: permission denied" in as_other[0].message


def test_check_start_command_uses_old_runc_wording_for_old_docker(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/run.sh", "#!/bin/sh\n", mode=0o700)

    findings = preflight(
        tree, image={"cmd": ("/app/run.sh",), "user": "app"}, site={"docker": "18.09"}
    )

    assert "standard_init_linux.go: exec user process caused: permission denied" in (
        findings[0].message
    )


def test_check_start_command_rejects_foreign_start_program(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/app/server", elf_bytes("busybox-amd64"))

    findings = preflight(tree, image={"cmd": ("/app/server",)})

    assert ("error", "exec-format-error", "/app/server") in codes(findings)
    assert ("error", "foreign-elf", "/app/server") in codes(findings)
    start = next(f for f in findings if f.code == "exec-format-error")
    assert "exec /app/server: exec format error" in start.message


def test_check_start_command_rejects_text_file_without_shebang(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.file("/app/run.sh", "echo hello\n")

    findings = preflight(tree, image={"cmd": ("/app/run.sh",)})

    assert _errors(findings) == [("error", "exec-format-error", "/app/run.sh")]


def test_check_start_command_checks_first_program_of_shell_script(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    script = "set -e; cd /app && MODE=prod exec python3 -m app"
    findings = preflight(tree, image={"cmd": ("/bin/sh", "-c", script)})

    assert _errors(findings) == [("error", "shell-command-not-found", "python3")]
    assert "sh: 1: python3: not found" in findings[0].message

    tree.file("/usr/bin/python3", elf_bytes("busybox-arm64"))
    assert _errors(preflight(tree, image={"cmd": ("/bin/sh", "-c", script)})) == []


def test_check_start_command_requires_the_shell_of_shell_form(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.remove("/bin/sh")

    findings = preflight(tree, image={"cmd": ("/bin/sh", "-c", "bash")})

    assert _errors(findings) == [("error", "command-missing", "/bin/sh")]


def test_check_start_command_follows_shell_program_chain(
    tree: TreeBuilder, preflight: Preflight, elf_bytes: ElfBytes
) -> None:
    tree.file("/app/server", elf_bytes("busybox-s390x"))

    findings = preflight(tree, image={"cmd": ("bash", "-ec", "/app/server --port 80")})

    start = next(f for f in findings if f.code == "exec-format-error")
    assert start.path == "/app/server"
    assert "bash: 1: /app/server: Exec format error" in start.message


@pytest.mark.parametrize(
    ("args", "script"),
    [
        (("-c", "run"), "run"),
        (("-ec", "run"), "run"),
        (("-e", "-o", "pipefail", "-c", "run", "name"), "run"),
        (("script.sh",), None),
        (("-e",), None),
    ],
)
def test_shell_script_finds_the_c_argument(
    args: tuple[str, ...], script: str | None
) -> None:
    assert shell_script(args) == script


@pytest.mark.parametrize(
    ("script", "program"),
    [
        ("exec gunicorn app", "gunicorn"),
        ("A=1 B='x y' exec /app/run", "/app/run"),
        ("cd /app && ./start.sh", "./start.sh"),
        ("set -eu\necho starting >&2\nexec node server.js", "node"),
        ("if true; then app; fi", "app"),
        ("[ -f x ] || app 2>&1", "app"),
        ("exec $APP", None),
        ("for x in a b; do run $x; done", None),
        ("echo 'unbalanced", None),
        ("true", None),
        ("exec -a worker /app/run", "/app/run"),
        ('"" app', "app"),
        ("(cd /app; serve)", "serve"),
    ],
)
def test_first_program_skips_assignments_builtins_and_keywords(
    script: str, program: str | None
) -> None:
    assert first_program(script) == program


def test_first_command_returns_program_and_arguments() -> None:
    script = "set -e; A=1 exec python3 -u app.py --port 80 >/dev/null; echo x"

    assert first_command(script) == ("python3", "-u", "app.py", "--port", "80")
