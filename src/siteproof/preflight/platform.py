"""The platform the image config declares, against the site's."""

from __future__ import annotations

from siteproof.findings import Finding
from siteproof.platforms import Platform, normalize_arch
from siteproof.preflight import messages
from siteproof.preflight.context import Context


def check_platform(ctx: Context) -> list[Finding]:
    """Compare the config's os/architecture/variant with the site platform."""
    config = ctx.image.config
    site = ctx.profile.site.platform
    if not config.architecture:
        return [messages.platform_missing(str(site))]
    declared = Platform(
        (config.os or "linux").lower(),
        normalize_arch(config.architecture),
        config.variant.lower(),
    )
    if site.matches(declared):
        return []
    return [messages.platform_mismatch(str(declared), str(site))]
