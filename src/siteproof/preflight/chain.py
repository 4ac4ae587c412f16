"""Follow what the kernel runs when a program starts: script, interpreter, ELF."""

from __future__ import annotations

from dataclasses import dataclass, field

from siteproof.archive.elf import ELF_MAGIC, arch_name, matches_arch
from siteproof.archive.model import Entry, EntryType
from siteproof.findings import Finding, Severity
from siteproof.preflight import messages
from siteproof.preflight.context import Context
from siteproof.preflight.libraries import check_libraries, check_loader
from siteproof.preflight.scripts import (
    Shebang,
    find_in_path,
    parse_shebang,
    resolve_quietly,
)

# Linux follows at most this many nested #! interpreters (BINPRM_MAX_RECURSION).
MAX_INTERPRETER_DEPTH = 4
NOT_A_PROGRAM = "neither a program nor a script with a #! line"


@dataclass(slots=True)
class ExecChain:
    """Judge one started program and everything it makes the kernel load.

    Attributes:
        ctx: the image and site.
        shell: the shell or wrapper (tini, gosu) that starts the program, ""
            when the engine does; it decides the wording of errors.
        findings: what was found so far.
        visited: every file judged as part of the chain.
    """

    ctx: Context
    shell: str = ""
    findings: list[Finding] = field(default_factory=list)
    visited: set[str] = field(default_factory=set)

    def check(self, path: str, entry: Entry, depth: int = 0) -> None:
        """Judge *path* (already resolved to *entry*) as the program to execute."""
        if path in self.visited or depth > MAX_INTERPRETER_DEPTH:
            return
        self.visited.add(path)
        if not entry.is_file:
            is_dir = entry.type is EntryType.DIR
            self.findings.append(
                messages.not_a_file(
                    path, is_dir=is_dir, docker=self.ctx.docker, shell=self.shell
                )
            )
            return
        self._check_permission(path, entry)
        shebang = parse_shebang(entry.head)
        if entry.elf is not None:
            self._check_elf(path, entry)
        elif shebang is not None:
            self._check_shebang(path, shebang, depth)
        elif not self.shell and (entry.head or entry.size == 0):
            # The engine does not fall back to sh for a file without #!, as a
            # shell or execvp() would; execve answers ENOEXEC.
            is_elf = entry.head.startswith(ELF_MAGIC)
            what = "an unreadable ELF file" if is_elf else NOT_A_PROGRAM
            self._add_exec_format(path, what)

    def _check_permission(self, path: str, entry: Entry) -> None:
        ids = self.ctx.ids
        if ids is None or self.ctx.fs.is_executable_by(entry, ids.uid, ids.all_gids):
            return
        self.findings.append(
            messages.not_executable(
                path, self.ctx.user, docker=self.ctx.docker, shell=self.shell
            )
        )

    def _add_exec_format(self, path: str, what: str) -> None:
        self.findings.append(
            messages.exec_format(path, what, docker=self.ctx.docker, shell=self.shell)
        )

    def _check_elf(self, path: str, entry: Entry) -> None:
        facts = entry.elf
        if facts is None:
            return
        if not matches_arch(facts, self.ctx.site_arch):
            self._add_exec_format(path, f"{arch_name(facts)} machine code")
            return
        loader = check_loader(self.ctx, path, facts, shell=self.shell)
        self.findings.extend(loader)
        if not loader:
            self.findings.extend(check_libraries(self.ctx, path, facts))

    def _check_shebang(self, path: str, shebang: Shebang, depth: int) -> None:
        ctx = self.ctx
        if shebang.has_cr:
            self.findings.append(
                messages.shebang_crlf(
                    path,
                    shebang.interpreter,
                    severity=Severity.ERROR,
                    docker=ctx.docker,
                    shell=self.shell,
                )
            )
            return
        interpreter = resolve_quietly(ctx.fs, shebang.interpreter, cwd=ctx.workdir)
        if interpreter is None:
            self.findings.append(
                messages.interpreter_missing(
                    path,
                    shebang.interpreter,
                    start=True,
                    docker=ctx.docker,
                    shell=self.shell,
                )
            )
            return
        self.check(shebang.interpreter, interpreter, depth + 1)
        if shebang.is_env:
            self._check_env_program(path, shebang, depth)

    def _check_env_program(self, path: str, shebang: Shebang, depth: int) -> None:
        name = shebang.env_program()
        if name is None:
            return
        found = find_in_path(self.ctx.fs, name, self.ctx.path_dirs)
        entry = None if found is None else resolve_quietly(self.ctx.fs, found)
        if found is None or entry is None:
            self.findings.append(
                messages.env_program_missing(
                    path, shebang.interpreter, name, start=True
                )
            )
            return
        self.check(found, entry, depth + 1)
