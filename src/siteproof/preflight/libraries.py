"""Dynamic programs: the loader and the shared libraries they need.

Libraries are looked up the way glibc's ld.so does it, approximately and
on the lenient side: the requester's RPATH/RUNPATH (and the program's, as
DT_RPATH is inherited), LD_LIBRARY_PATH, /etc/ld.so.conf with its includes,
musl's /etc/ld-musl-ARCH.path, then the default and multiarch directories.
A library of another machine is skipped, as ld.so skips it.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections import deque
from dataclasses import dataclass

from siteproof.archive.elf import arch_name
from siteproof.archive.model import (
    ElfFacts,
    Entry,
    ImageFilesystem,
    SymlinkLoopError,
)
from siteproof.findings import Finding
from siteproof.preflight import messages
from siteproof.preflight.context import Context
from siteproof.preflight.scripts import resolve_quietly

DEFAULT_LIBRARY_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib")

# OCI architecture -> Debian multiarch triplet.
MULTIARCH = {
    "arm64": "aarch64-linux-gnu",
    "amd64": "x86_64-linux-gnu",
    "s390x": "s390x-linux-gnu",
    "386": "i386-linux-gnu",
    "arm": "arm-linux-gnueabihf",
    "ppc64le": "powerpc64le-linux-gnu",
    "riscv64": "riscv64-linux-gnu",
    "mips64le": "mips64el-linux-gnuabi64",
    "loong64": "loongarch64-linux-gnu",
}

_MAX_CONF_DEPTH = 8
_MUSL_LOADER = re.compile(r"ld-musl-([A-Za-z0-9_]+)\.so")


@dataclass(frozen=True, slots=True)
class _Program:
    """The program whose libraries are being followed."""

    path: str
    facts: ElfFacts


def check_loader(
    ctx: Context, path: str, facts: ElfFacts, *, shell: str
) -> list[Finding]:
    """Check that the dynamic loader a program names exists in the image."""
    loader = facts.interpreter
    if loader is None:
        return []
    entry = resolve_quietly(ctx.fs, loader)
    if entry is not None and entry.is_file:
        return []
    return [messages.loader_missing(path, loader, docker=ctx.docker, shell=shell)]


def check_libraries(ctx: Context, path: str, facts: ElfFacts) -> list[Finding]:
    """Follow DT_NEEDED from a program through every library it pulls in."""
    program = _Program(path, facts)
    search = _base_dirs(ctx, facts)
    findings: list[Finding] = []
    queue: deque[tuple[str, ElfFacts]] = deque([(path, facts)])
    seen = {path}
    while queue:
        requester, requester_facts = queue.popleft()
        if requester_facts.needed is None:
            findings.append(messages.libraries_unknown(requester))
            continue
        for name in requester_facts.needed:
            dirs = _rpath_dirs(program, requester, requester_facts) + search
            found = _find_library(ctx.fs, name, dirs, facts)
            if found is None:
                findings.append(messages.library_missing(name, requester, path))
                continue
            lib_path, lib = found
            if lib_path not in seen and lib.elf is not None:
                seen.add(lib_path)
                queue.append((lib_path, lib.elf))
    return findings


def _find_library(
    fs: ImageFilesystem, name: str, dirs: list[str], program: ElfFacts
) -> tuple[str, Entry] | None:
    candidates = [name] if "/" in name else [posixpath.join(d, name) for d in dirs]
    for candidate in candidates:
        entry = resolve_quietly(fs, candidate)
        if entry is None or not entry.is_file:
            continue
        elf = entry.elf
        if elf is None or (elf.machine, elf.bits) == (program.machine, program.bits):
            return posixpath.normpath(candidate), entry
    return None


def _rpath_dirs(program: _Program, requester: str, facts: ElfFacts) -> list[str]:
    """Return the requester's RPATH/RUNPATH, then the program's, with $ORIGIN."""
    dirs = [_expand(d, requester) for d in facts.rpath]
    if requester != program.path:
        dirs += [_expand(d, program.path) for d in program.facts.rpath]
    return [d for d in dirs if d]


def _expand(directory: str, owner: str) -> str:
    origin = posixpath.dirname(owner)
    for token in ("${ORIGIN}", "$ORIGIN"):
        directory = directory.replace(token, origin)
    for token in ("${LIB}", "$LIB"):
        directory = directory.replace(token, "lib")
    if "$" in directory:
        return ""
    return posixpath.normpath(directory)


def _base_dirs(ctx: Context, facts: ElfFacts) -> list[str]:
    """Return LD_LIBRARY_PATH, configured and default directories, in order."""
    dirs = [d for d in ctx.env.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += read_ld_so_conf(ctx.fs)
    dirs += _musl_path(ctx.fs, facts.interpreter)
    triplet = MULTIARCH.get(arch_name(facts))
    if triplet:
        dirs += [f"/lib/{triplet}", f"/usr/lib/{triplet}"]
    dirs += DEFAULT_LIBRARY_DIRS
    return list(dict.fromkeys(dirs))


def read_ld_so_conf(
    fs: ImageFilesystem, path: str = "/etc/ld.so.conf", depth: int = 0
) -> list[str]:
    """Return the directories /etc/ld.so.conf lists, following ``include``."""
    text = fs.read_text(path)
    if text is None or depth > _MAX_CONF_DEPTH:
        return []
    dirs: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("include"):
            for pattern in line.split()[1:]:
                for included in _glob(
                    fs, posixpath.join(posixpath.dirname(path), pattern)
                ):
                    dirs += read_ld_so_conf(fs, included, depth + 1)
        elif line and not line.startswith("hwcap"):
            dirs += [d for d in re.split(r"[:,\s]+", line) if d.startswith("/")]
    return dirs


def _glob(fs: ImageFilesystem, pattern: str) -> list[str]:
    directory, name = posixpath.split(pattern)
    try:
        real = fs.realpath(directory) if "*" not in directory else None
    except SymlinkLoopError:
        real = None
    if real is None:
        return []
    return [
        posixpath.join(directory, n)
        for n in fs.listdir(real)
        if fnmatch.fnmatchcase(n, name)
    ]


def _musl_path(fs: ImageFilesystem, loader: str | None) -> list[str]:
    match = _MUSL_LOADER.search(loader or "")
    if match is None:
        return []
    text = fs.read_text(f"/etc/ld-musl-{match.group(1)}.path") or ""
    return [d for d in re.split(r"[:\n]+", text) if d.startswith("/")]
