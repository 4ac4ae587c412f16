"""Static checks of an image against a site profile (``siteproof inspect``).

Each module judges one concern and returns findings; :func:`run_preflight`
runs them all in a fixed order and sorts the result, worst first.
"""

from __future__ import annotations

import logging

from siteproof.archive.model import Archive, Image, ImageFilesystem
from siteproof.findings import Finding
from siteproof.preflight.command import check_start_command
from siteproof.preflight.context import build_context
from siteproof.preflight.loadability import check_loadability
from siteproof.preflight.machine_code import check_machine_code
from siteproof.preflight.platform import check_platform
from siteproof.preflight.scripts import check_scripts
from siteproof.site import SiteProfile

log = logging.getLogger(__name__)

__all__ = ["run_preflight", "sort_findings"]


def run_preflight(
    archive: Archive, image: Image, fs: ImageFilesystem, profile: SiteProfile
) -> list[Finding]:
    """Predict what will go wrong when the site loads and starts *image*.

    Args:
        archive: the tarball's index (format, blob problems).
        image: the image the site starts.
        fs: the image's merged filesystem.
        profile: the site profile.

    Returns:
        the findings, most severe first, then by code and path.
    """
    ctx = build_context(archive, image, fs, profile)
    start = check_start_command(ctx)
    findings = [
        *check_loadability(ctx),
        *check_platform(ctx),
        *ctx.user_findings,
        *start.findings,
        *check_machine_code(ctx),
        *check_scripts(ctx, skip=start.visited),
    ]
    log.debug("preflight of %s: %d findings", image.name, len(findings))
    return sort_findings(findings)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Drop exact duplicates and sort most severe first, then by code and path."""
    unique = dict.fromkeys(findings)
    return sorted(unique, key=lambda f: (-f.severity, f.code, f.path or "", f.message))
