"""The ``inspect`` stage: read a tarball and predict what breaks at the site."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siteproof.archive.index import open_archive, select_image
from siteproof.archive.layers import read_filesystem
from siteproof.archive.model import Image
from siteproof.archive.streams import hash_in_background
from siteproof.errors import ArchiveError
from siteproof.findings import Finding, Severity
from siteproof.preflight import run_preflight
from siteproof.site import SiteProfile

log = logging.getLogger(__name__)

# Called with (bytes read, bytes to read) while layers stream by.
InspectProgress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class InspectReport:
    """What ``inspect`` found, bound to the tarball's sha256."""

    tarball: str
    sha256: str
    size_bytes: int
    archive_format: str
    images: tuple[Image, ...]
    image: Image
    profile: SiteProfile
    findings: tuple[Finding, ...]
    file_count: int
    duration_s: float

    @property
    def errors(self) -> list[Finding]:
        """Return the findings that make the image fail at the site."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def passed(self) -> bool:
        """Tell whether no finding is an error."""
        return not self.errors

    @property
    def verdict(self) -> str:
        """Return ``pass`` or ``fail``."""
        return "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        """Return the whole report as JSON-ready data."""
        return {
            "verdict": self.verdict,
            "tarball": {
                "path": self.tarball,
                "sha256": self.sha256,
                "size_bytes": self.size_bytes,
                "format": self.archive_format,
            },
            "image": _image_dict(self.image),
            "images": [_image_dict(image) for image in self.images],
            "site": self.profile.to_dict(),
            "findings": [finding.to_dict() for finding in self.findings],
            "summary": {
                str(severity): sum(f.severity is severity for f in self.findings)
                for severity in Severity
            },
            "files": self.file_count,
            "duration_s": round(self.duration_s, 3),
        }


def _image_dict(image: Image) -> dict[str, Any]:
    config = image.config
    return {
        "id": image.config_digest,
        "tags": list(image.tags),
        "platform": str(config.platform),
        "entrypoint": list(config.entrypoint),
        "cmd": list(config.cmd),
        "user": config.user,
        "layers": [
            {
                "digest": layer.digest or layer.diff_id,
                "compression": layer.compression.value,
                "size_bytes": layer.size,
            }
            for layer in image.layers
        ],
    }


def inspect_tarball(
    path: Path,
    profile: SiteProfile,
    *,
    image_ref: str = "",
    progress: InspectProgress | None = None,
) -> InspectReport:
    """Read *path* once, without a Docker engine, and judge it for *profile*.

    Args:
        path: the ``docker save`` (or OCI) tarball.
        profile: the site it is meant for.
        image_ref: which image of the tarball starts; defaults to ``[run] image``.
        progress: called as layers stream by.

    Raises:
        ArchiveError: when the tarball cannot be read as an image archive.
        InputError: when the image to start cannot be chosen.
    """
    started = time.monotonic()
    whole_file = hash_in_background(path) if path.is_file() else None
    archive = open_archive(path)
    image = select_image(archive, image_ref or profile.run.image, profile.site.platform)
    log.info("inspecting %s (%s) in %s", image.name, image.config.platform, path)
    filesystem = read_filesystem(archive, image, progress=progress)
    findings = run_preflight(archive, image, filesystem, profile)
    try:
        sha256 = whole_file.result() if whole_file else ""
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror}") from None
    return InspectReport(
        tarball=archive.path,
        sha256=sha256,
        size_bytes=archive.size,
        archive_format=archive.format.value,
        images=tuple(archive.images),
        image=image,
        profile=profile,
        findings=tuple(findings),
        file_count=len(filesystem),
        duration_s=time.monotonic() - started,
    )
