"""Deliver the tarball as the site receives it, and ``docker load`` it there."""

from __future__ import annotations

import logging
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path

from siteproof.errors import CommandError, InfraError
from siteproof.remote.base import ProgressCallback, Session
from siteproof.remote.docker import DockerEngine, LoadResult
from siteproof.signals import deferred_interrupts
from siteproof.teardown import (
    Teardown,
    remove_image_command,
    remove_path_command,
)

log = logging.getLogger(__name__)

UPLOAD_ROOT = "/var/tmp/siteproof"


class LoadError(CommandError):
    """``docker load`` refused the tarball: a verdict on the image.

    An old engine that cannot read a newer archive format fails here, exactly
    as it would at the site. A full disk is an InfraError instead.
    """


@dataclass(frozen=True, slots=True)
class LoadedImages:
    """What ``docker load`` added to the engine.

    Attributes:
        reported: what ``docker load`` printed (tags, or ids when untagged).
        new_ids: image ids that were not in the engine before.
        new_tags: tags that did not exist before.
    """

    reported: tuple[str, ...]
    new_ids: tuple[str, ...]
    new_tags: tuple[str, ...]


def run_folder(run_id: str) -> str:
    """Return the host folder of one run, e.g. ``/var/tmp/siteproof/<run-id>``."""
    return posixpath.join(UPLOAD_ROOT, run_id)


def upload_tarball(
    session: Session,
    tarball: Path,
    *,
    sha256: str,
    run_id: str,
    teardown: Teardown,
    progress: ProgressCallback | None = None,
) -> str:
    """Copy the tarball into the run's folder and verify it; return its path.

    Raises:
        InfraError: when the copy fails or the checksum differs.
    """
    folder = run_folder(run_id)
    teardown.add("folder", folder, remove_path_command(folder))
    remote_path = posixpath.join(folder, tarball.name)
    started = time.monotonic()
    session.upload(tarball, remote_path, sha256=sha256, progress=progress)
    log.debug(
        "uploaded %s (%.1f MB) to %s in %.1f s, sha256 verified",
        tarball.name,
        tarball.stat().st_size / 1e6,
        remote_path,
        time.monotonic() - started,
    )
    return remote_path


def load_tarball(
    engine: DockerEngine, remote_path: str, *, teardown: Teardown
) -> LoadedImages:
    """Run ``docker load -i`` and register each image it added for removal.

    Images and tags that were in the engine before are never removed.

    Raises:
        CommandError: when ``docker load`` fails (e.g. a format the engine
            cannot read).
    """
    started = time.monotonic()
    with deferred_interrupts():
        outcome = engine.load_image(remote_path)
        loaded = _difference(outcome)
        for image_id in loaded.new_ids:
            teardown.add("image", image_id, remove_image_command(image_id))
        for tag in loaded.new_tags:
            teardown.add("tag", tag, remove_image_command(tag))
    result = outcome.result
    if not result.succeeded:
        error = LoadError if "no space left" not in result.stderr else CommandError
        raise error(
            f"docker load of {remote_path} failed on {engine.session.description}",
            command=f"docker load -i {remote_path}",
            exit_status=result.exit_status,
            stderr_tail=result.stderr_tail(),
        )
    if not loaded.reported:
        raise InfraError(f"docker load of {remote_path} reported no image")
    log.info(
        "docker load took %.1f s: %s",
        time.monotonic() - started,
        ", ".join(loaded.reported),
    )
    return loaded


def _difference(outcome: LoadResult) -> LoadedImages:
    old_ids = {image.id for image in outcome.before}
    old_tags = {tag for image in outcome.before for tag in image.tags}
    return LoadedImages(
        reported=outcome.reported,
        new_ids=tuple(image.id for image in outcome.after if image.id not in old_ids),
        new_tags=tuple(
            tag for image in outcome.after for tag in image.tags if tag not in old_tags
        ),
    )
