"""What every check needs to know about the image and the site, worked out once."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from siteproof.archive.model import DEFAULT_PATH, Archive, Image, ImageFilesystem
from siteproof.findings import Finding
from siteproof.preflight.users import UserIds, resolve_user
from siteproof.site import SiteProfile


@dataclass(frozen=True, slots=True)
class Context:
    """The image as the site will start it.

    Attributes:
        archive: the tarball's index.
        image: the image the site starts.
        fs: its merged filesystem.
        profile: the site profile.
        env: the container's environment (image Env, then the site's env).
        workdir: the directory the start command runs in.
        user: the user spec the container runs as (``""`` for root).
        ids: numeric uid and groups of that user; None when it cannot be
            found (a finding says so).
        user_findings: what resolving the user found wrong.
    """

    archive: Archive
    image: Image
    fs: ImageFilesystem
    profile: SiteProfile
    env: dict[str, str]
    workdir: str
    user: str
    ids: UserIds | None
    user_findings: tuple[Finding, ...]

    @property
    def site_arch(self) -> str:
        """Return the site's OCI architecture name."""
        return self.profile.site.platform.architecture

    @property
    def path_dirs(self) -> list[str]:
        """Return the directories PATH lists inside the container."""
        return [d for d in self.env.get("PATH", DEFAULT_PATH).split(":") if d]

    @property
    def docker(self) -> tuple[int, int]:
        """Return the site's Docker engine version."""
        return self.profile.site.docker


def build_context(
    archive: Archive, image: Image, fs: ImageFilesystem, profile: SiteProfile
) -> Context:
    """Work out environment, working directory and user as the engine would."""
    env = container_env(image, profile)
    user = profile.run.user or image.config.user
    ids, findings = resolve_user(fs, user)
    workdir = profile.run.workdir or image.config.working_dir or "/"
    return Context(
        archive=archive,
        image=image,
        fs=fs,
        profile=profile,
        env=env,
        workdir=posixpath.normpath(posixpath.join("/", workdir)),
        user=user,
        ids=ids,
        user_findings=tuple(findings),
    )


def container_env(image: Image, profile: SiteProfile) -> dict[str, str]:
    """Return the environment the start command sees.

    The engine adds its default PATH when the image sets none, and the
    site's ``[run] env`` wins over the image's Env.
    """
    env: dict[str, str] = {}
    for item in image.config.env:
        name, _, value = item.partition("=")
        env[name] = value
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(profile.run.env)
    return env
