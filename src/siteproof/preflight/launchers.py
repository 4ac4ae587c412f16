"""Programs that start another program: init wrappers and script interpreters.

``tini -- app`` and ``gosu app server`` hand over to the real program, and
``python3 app.py`` or ``node server.js`` need their script file. These
helpers find that inner program or file in an argument list.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

SHELL_NAMES = frozenset({"sh", "bash", "dash", "ash", "ksh", "zsh", "mksh"})

# wrapper -> (options that take a value, positional arguments before the command)
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "tini": (frozenset({"-p", "-e"}), 0),
    "tini-static": (frozenset({"-p", "-e"}), 0),
    "dumb-init": (frozenset({"-r", "--rewrite"}), 0),
    "catatonit": (frozenset(), 0),
    "gosu": (frozenset(), 1),
    "su-exec": (frozenset(), 1),
    "env": (frozenset({"-u", "--unset", "-C", "--chdir"}), 0),
}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True, slots=True)
class ScriptRule:
    """How one interpreter names its script file on the command line.

    Attributes:
        kind: the interpreter family, which decides the error wording.
        with_value: options whose next argument is their value.
        no_file: options after which no script file follows (``-c``, ``-m``).
    """

    kind: str
    with_value: frozenset[str]
    no_file: frozenset[str]


_PYTHON = ScriptRule(
    "python",
    frozenset({"-W", "-X", "--check-hash-based-pycs"}),
    frozenset({"-m", "-c", "-", "-V", "--version", "-h", "--help"}),
)
_NODE = ScriptRule(
    "node",
    frozenset({"-r", "--require", "--import", "--loader", "-C", "--conditions"}),
    frozenset({"-e", "--eval", "-p", "--print", "-i", "-", "-v", "--version"}),
)
_SHELL = ScriptRule("sh", frozenset({"-o", "+o"}), frozenset({"-c", "-s", "-i", "-"}))
_OTHER = ScriptRule("other", frozenset(), frozenset({"-e", "-E", "-v", "--version"}))

_RULES = (
    (re.compile(r"^python(\d+(\.\d+)?)?$"), _PYTHON),
    (re.compile(r"^(node|nodejs)$"), _NODE),
    (re.compile(r"^(sh|bash|dash|ash|ksh|zsh|mksh)$"), _SHELL),
    (re.compile(r"^(perl|ruby|php)(\d+(\.\d+)*)?$"), _OTHER),
)


def unwrap(argv: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """Return (wrapper name, inner command) when ``argv[0]`` is a wrapper."""
    name = posixpath.basename(argv[0]) if argv else ""
    if name not in WRAPPERS:
        return None
    with_value, positional = WRAPPERS[name]
    args = list(argv[1:])
    while args and (args[0].startswith("-") or (name == "env" and "=" in args[0])):
        option = args.pop(0)
        if option == "--":
            break
        if option in with_value and args:
            args.pop(0)
    args = args[positional:]
    return (name, tuple(args)) if args else None


def script_argument(argv: tuple[str, ...]) -> tuple[str, str] | None:
    """Return (interpreter kind, script path) for ``python3 app.py`` and the like.

    ``java -jar app.jar`` counts too; None when no script file is named.
    """
    name = posixpath.basename(argv[0]) if argv else ""
    args = list(argv[1:])
    if name == "java":
        jar = args.index("-jar") + 1 if "-jar" in args[:-1] else None
        return None if jar is None else ("java", args[jar])
    rule = next((r for pattern, r in _RULES if pattern.match(name)), None)
    script = None if rule is None else _first_file(rule, args)
    return None if rule is None or script is None else (rule.kind, script)


def _first_file(rule: ScriptRule, args: list[str]) -> str | None:
    """Return the first argument that is a file, skipping options."""
    while args:
        arg = args.pop(0)
        if arg in rule.no_file or (rule is _SHELL and _is_shell_c(arg)):
            return None
        if arg == "--":
            return args[0] if args else None
        if not arg.startswith(("-", "+")):
            return arg
        if arg in rule.with_value and args:
            args.pop(0)
    return None


def _is_shell_c(arg: str) -> bool:
    return arg.startswith("-") and not arg.startswith("--") and "c" in arg
