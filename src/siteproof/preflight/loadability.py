"""Whether the site's Docker can load the tarball at all."""

from __future__ import annotations

from siteproof.archive.model import ArchiveFormat, Compression
from siteproof.findings import Finding
from siteproof.preflight import messages
from siteproof.preflight.context import Context

# docker load reads OCI layouts without manifest.json from 25.0 on,
# and zstd-compressed layers from 23.0 on.
OCI_LOAD_DOCKER = (25, 0)
ZSTD_LOAD_DOCKER = (23, 0)


def check_loadability(ctx: Context) -> list[Finding]:
    """Check the archive's format, layer compression, blob digests and tags."""
    docker = ctx.profile.site.docker
    docker_text = ctx.profile.site.docker_text
    findings = [messages.blob_corrupt(p) for p in ctx.archive.problems]
    if ctx.archive.format is ArchiveFormat.OCI and docker < OCI_LOAD_DOCKER:
        findings.append(messages.archive_oci_only(docker_text))
    if docker < ZSTD_LOAD_DOCKER:
        findings.extend(
            messages.layer_zstd(layer.blob, docker_text)
            for layer in ctx.image.layers
            if layer.compression is Compression.ZSTD
        )
    if not ctx.image.tags:
        findings.append(messages.image_untagged(ctx.image.id))
    return findings
