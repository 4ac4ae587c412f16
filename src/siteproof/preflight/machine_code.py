"""Machine code: foreign ELF files, page-size alignment, bundled jemalloc."""

from __future__ import annotations

import fnmatch
import posixpath

from siteproof.archive.elf import ET_DYN, ET_EXEC, arch_name, matches_arch
from siteproof.archive.model import ElfFacts, Entry
from siteproof.findings import Finding
from siteproof.preflight import messages
from siteproof.preflight.context import Context

SMALL_PAGE = 4096
_JEMALLOC_NAME = "libjemalloc*.so*"


def check_machine_code(ctx: Context) -> list[Finding]:
    """Check every ELF file for the site's CPU and page size.

    Relocatable objects (``.o``, kernel modules) are never loaded by the
    container, so only programs and shared objects count.
    """
    findings: list[Finding] = []
    page = ctx.profile.site.page_size
    for entry in ctx.fs:
        facts = entry.elf if entry.is_file else None
        if facts is not None and facts.elf_type not in (ET_EXEC, ET_DYN):
            continue
        if facts is not None and not matches_arch(facts, ctx.site_arch):
            findings.append(_foreign(ctx, entry, facts))
            continue
        if page <= SMALL_PAGE or not entry.is_file:
            continue
        if facts is not None and _aligned_below(facts, page):
            findings.append(
                messages.page_size(entry.path, facts.min_load_align or 0, page)
            )
        if _has_jemalloc(entry):
            findings.append(messages.jemalloc_page_size(entry.path, page))
    return findings


def _foreign(ctx: Context, entry: Entry, facts: ElfFacts) -> Finding:
    is_program = facts.elf_type == ET_EXEC or (
        facts.interpreter is not None and ".so" not in posixpath.basename(entry.path)
    )
    return messages.foreign_elf(
        entry.path, arch_name(facts), ctx.site_arch, is_program=is_program
    )


def _aligned_below(facts: ElfFacts, page: int) -> bool:
    align = facts.min_load_align
    return align is not None and align < page


def _has_jemalloc(entry: Entry) -> bool:
    if entry.elf is not None and entry.elf.has_jemalloc:
        return True
    return fnmatch.fnmatchcase(posixpath.basename(entry.path), _JEMALLOC_NAME)
