"""The start command, resolved as the engine resolves it, and what it runs."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from siteproof.archive.model import Entry, SymlinkLoopError
from siteproof.findings import Finding
from siteproof.preflight import messages
from siteproof.preflight.chain import ExecChain
from siteproof.preflight.context import Context
from siteproof.preflight.launchers import SHELL_NAMES, script_argument, unwrap
from siteproof.preflight.scripts import find_in_path, resolve_quietly

# Words that start no program: shell keywords and the common builtins.
SHELL_KEYWORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until"}
    | {"!", "{", "}", "time"}
)
SHELL_BUILTINS = frozenset(
    {":", ".", "source", "alias", "bg", "break", "cd", "command", "continue"}
    | {"echo", "eval", "exit", "export", "false", "fg", "getopts", "hash"}
    | {"jobs", "kill", "let", "local", "printf", "pwd", "read", "readonly"}
    | {"return", "set", "shift", "test", "[", "[[", "times", "trap", "true"}
    | {"type", "typeset", "declare", "ulimit", "umask", "unalias", "unset"}
    | {"wait", "shopt", "ulimit"}
)
# Constructs after which the next words are not a command; we stop there.
_GIVE_UP = frozenset({"for", "case", "select", "function"})
_OPERATORS = ";&|()<>\n"
# How many hand-overs (sh -c, tini --, gosu user ...) are followed.
MAX_HANDOVERS = 4
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True, slots=True)
class StartReport:
    """What checking the start command found, and which files it judged."""

    findings: list[Finding]
    visited: set[str]


def start_argv(ctx: Context) -> tuple[str, ...]:
    """Return Entrypoint + Cmd after the site's overrides, as ``docker run`` does.

    Overriding the entrypoint (``--entrypoint``) also drops the image's Cmd.
    """
    run = ctx.profile.run
    config = ctx.image.config
    entrypoint = config.entrypoint if run.entrypoint is None else run.entrypoint
    if run.command is not None:
        cmd = run.command
    elif run.entrypoint is not None:
        cmd = ()
    else:
        cmd = config.cmd
    return tuple(entrypoint) + tuple(cmd)


def check_start_command(ctx: Context) -> StartReport:
    """Check that the start command exists, may run, and can load what it needs.

    Beyond the program itself this follows what it hands over to: the first
    command of a ``sh -c`` script, the command behind an init or privilege
    wrapper (``tini --``, ``gosu``), and the script file of an interpreter.
    """
    argv = start_argv(ctx)
    if not argv:
        return StartReport([messages.no_command()], set())
    located = locate_command(ctx, argv[0])
    if isinstance(located, Finding):
        return StartReport([located], set())
    chain = ExecChain(ctx)
    chain.check(*located)
    report = StartReport(chain.findings, chain.visited)
    for _ in range(MAX_HANDOVERS):
        _check_script_file(ctx, argv, report)
        handover = next_command(argv)
        if handover is None or not _check_handover(ctx, *handover, report):
            break
        argv = handover[1]
    return report


def next_command(argv: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """Return (launcher, command) that *argv* hands over to, if it is a launcher.

    ``sh -c SCRIPT`` hands over to the script's first command, ``tini --
    app`` and ``gosu user app`` to ``app``.
    """
    shell = posixpath.basename(argv[0])
    if shell in SHELL_NAMES:
        script = shell_script(argv[1:])
        command = None if script is None else first_command(script)
        return None if command is None else (shell, command)
    return unwrap(argv)


def _check_script_file(
    ctx: Context, argv: tuple[str, ...], report: StartReport
) -> None:
    """Check that the script an interpreter is told to run exists."""
    named = script_argument(argv)
    if named is None or any(c in named[1] for c in "$`*?"):
        return
    kind, path = named
    if resolve_quietly(ctx.fs, path, cwd=ctx.workdir) is None:
        full = posixpath.normpath(posixpath.join(ctx.workdir, path))
        report.findings.append(messages.script_missing(kind, argv[0], path, full))


def _check_handover(
    ctx: Context, launcher: str, argv: tuple[str, ...], report: StartReport
) -> bool:
    """Check the program that *launcher* finds through PATH and executes."""
    name = argv[0]
    found = find_in_path(ctx.fs, name, ctx.path_dirs, cwd=ctx.workdir)
    entry = None if found is None else resolve_quietly(ctx.fs, found)
    if found is None or entry is None:
        if launcher in SHELL_NAMES:
            report.findings.append(messages.shell_command_not_found(launcher, name))
        else:
            report.findings.append(messages.wrapped_command_not_found(launcher, name))
        return False
    chain = ExecChain(ctx, shell=launcher, visited=report.visited)
    chain.check(found, entry)
    report.findings.extend(chain.findings)
    return True


def locate_command(ctx: Context, name: str) -> tuple[str, Entry] | Finding:
    """Find the program the engine executes for ``argv[0]``.

    Names with a slash are taken from the working directory; bare names are
    searched through PATH for an executable regular file (Go's LookPath).
    """
    if "/" not in name:
        found = find_in_path(ctx.fs, name, ctx.path_dirs)
        entry = None if found is None else resolve_quietly(ctx.fs, found)
        if found is None or entry is None:
            return messages.command_not_found(name, ctx.path_dirs)
        return found, entry
    path = posixpath.normpath(posixpath.join(ctx.workdir, name))
    try:
        entry = ctx.fs.resolve(path)
    except SymlinkLoopError:
        return messages.symlink_loop(name, path)
    if entry is None:
        return messages.command_missing(name, path)
    return path, entry


def shell_script(args: tuple[str, ...]) -> str | None:
    """Return the script of ``sh [options] -c SCRIPT``, or None without ``-c``."""
    has_c = False
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-o", "+o"):
            index += 2
            continue
        if not arg.startswith(("-", "+")) or arg in ("-", "--"):
            return arg if has_c else None
        has_c = has_c or (arg.startswith("-") and "c" in arg)
        index += 1
    return None


def first_program(script: str) -> str | None:
    """Return the program of a shell script's first command (see first_command)."""
    command = first_command(script)
    return command[0] if command else None


def first_command(script: str) -> tuple[str, ...] | None:
    """Return the words of the first command of a shell script that runs a program.

    Assignments, ``exec`` (and its options), keywords and builtins (with
    their arguments) are skipped, as are redirections; None when no program
    is named or the script is too dynamic to tell (expansions, loops).
    """
    lexer = shlex.shlex(script, posix=True, punctuation_chars=_OPERATORS)
    lexer.whitespace = " \t\r"
    words: list[str] = []
    at_start, skip_next = True, False
    try:
        for token in lexer:
            if skip_next or not token:
                skip_next = False
            elif token[0] in _OPERATORS:
                # A redirection's target follows; any other operator ends
                # the command.
                skip_next = "<" in token or ">" in token
                if words and not skip_next:
                    break
                at_start = at_start or not skip_next
            elif words:
                words.append(token)
            elif at_start:
                kind = _word_kind(token)
                if kind == "unknown":
                    return None
                if kind == "program":
                    words.append(token)
                at_start = token not in SHELL_BUILTINS
                skip_next = token == "-a"  # exec -a NAME
    except ValueError:
        return None
    return tuple(words) or None


def _word_kind(token: str) -> str:
    """Classify a word at the start of a command: program, skip or unknown."""
    if token in _GIVE_UP or "$" in token or token[0] == "`":
        return "unknown"
    if (
        token in SHELL_BUILTINS
        or token in SHELL_KEYWORDS
        or token == "exec"
        or token.isdigit()
        or token.startswith("-")
        or _ASSIGNMENT.match(token)
    ):
        return "skip"
    return "program"
