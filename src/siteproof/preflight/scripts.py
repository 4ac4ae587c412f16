"""Scripts: the ``#!`` line, its interpreter, and Windows line endings."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from siteproof.archive.model import Entry, ImageFilesystem, SymlinkLoopError
from siteproof.findings import Finding, Severity
from siteproof.preflight import messages
from siteproof.preflight.context import Context
from siteproof.preflight.launchers import SHELL_NAMES


@dataclass(frozen=True, slots=True)
class Shebang:
    """A parsed ``#!`` line, split as the kernel splits it.

    Attributes:
        interpreter: the path up to the first space or tab (may end in ``\\r``).
        argument: the rest, as one argument ("" when there is none).
        has_cr: the line holds a carriage return.
    """

    interpreter: str
    argument: str
    has_cr: bool

    @property
    def is_env(self) -> bool:
        """Tell whether the interpreter is ``env`` (``#!/usr/bin/env NAME``)."""
        return posixpath.basename(self.interpreter) == "env"

    def env_program(self) -> str | None:
        """Return the program ``env`` is asked to run, or None if unclear.

        Without ``-S`` the kernel hands env the whole rest of the line as one
        name, so ``#!/usr/bin/env python3 -u`` asks for ``python3 -u``.
        """
        argument = self.argument
        for flag in ("-S", "--split-string=", "--split-string"):
            if argument.startswith(flag):
                return _first_command_word(argument[len(flag) :])
        if not argument or argument.startswith("-"):
            return None
        return argument


def _first_command_word(text: str) -> str | None:
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    for word in words:
        if word.startswith("-") or "=" in word:
            continue
        return word
    return None


def parse_shebang(head: bytes) -> Shebang | None:
    """Return the ``#!`` line of a file's first bytes, or None if it has none."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0]
    text = line.decode("utf-8", errors="replace").strip(" \t")
    for index, char in enumerate(text):
        if char in " \t":
            return Shebang(text[:index], text[index:].strip(" \t"), "\r" in text)
    return Shebang(text, "", "\r" in text)


def is_shell_script(path: str, shebang: Shebang | None) -> bool:
    """Tell whether a file is meant for a POSIX-like shell."""
    if shebang is not None:
        name = posixpath.basename(shebang.interpreter.rstrip("\r"))
        if shebang.is_env:
            name = shebang.env_program() or ""
        if name in SHELL_NAMES:
            return True
    return path.endswith(".sh")


def resolve_quietly(fs: ImageFilesystem, path: str, cwd: str = "/") -> Entry | None:
    """Return the entry *path* leads to, treating a symlink loop as missing."""
    try:
        return fs.resolve(path, cwd=cwd)
    except SymlinkLoopError:
        return None


def find_in_path(
    fs: ImageFilesystem, name: str, path_dirs: Iterable[str], cwd: str = "/"
) -> str | None:
    """Return where a PATH search for *name* finds an executable file."""
    if "/" in name:
        entry = resolve_quietly(fs, name, cwd)
        found = entry is not None and entry.is_file
        return posixpath.normpath(posixpath.join(cwd, name)) if found else None
    for directory in path_dirs:
        candidate = posixpath.join(cwd, directory, name)
        entry = resolve_quietly(fs, candidate)
        if entry is not None and entry.is_file and entry.mode & 0o111:
            return posixpath.normpath(candidate)
    return None


def check_scripts(ctx: Context, *, skip: set[str]) -> list[Finding]:
    """Check every script in the image that the start command did not reach.

    Args:
        ctx: the image and site.
        skip: paths already judged as part of the start command's chain.
    """
    findings: list[Finding] = []
    for entry in ctx.fs:
        shebang = parse_shebang(entry.head) if entry.is_file else None
        if shebang is None:
            continue
        if entry.has_crlf and is_shell_script(entry.path, shebang):
            findings.append(messages.script_crlf(entry.path))
        if entry.path not in skip:
            findings.extend(_check_script(ctx, entry, shebang))
    return findings


def _check_script(ctx: Context, entry: Entry, shebang: Shebang) -> list[Finding]:
    findings = []
    is_executable = bool(entry.mode & 0o111)
    if shebang.has_cr:
        severity = Severity.ERROR if is_executable else Severity.WARNING
        findings.append(
            messages.shebang_crlf(
                entry.path,
                shebang.interpreter,
                severity=severity,
                docker=ctx.docker,
                shell="",
            )
        )
    elif is_executable:
        findings.extend(_check_interpreter(ctx, entry.path, shebang))
    return findings


def _check_interpreter(ctx: Context, path: str, shebang: Shebang) -> list[Finding]:
    """Warn when an executable script's interpreter is absent."""
    interpreter = resolve_quietly(ctx.fs, shebang.interpreter, cwd=ctx.workdir)
    if interpreter is None or not interpreter.is_file:
        return [
            messages.interpreter_missing(
                path, shebang.interpreter, start=False, docker=ctx.docker, shell="sh"
            )
        ]
    program = shebang.env_program() if shebang.is_env else None
    if program and find_in_path(ctx.fs, program, ctx.path_dirs) is None:
        return [
            messages.env_program_missing(
                path, shebang.interpreter, program, start=False
            )
        ]
    return []
