"""The delivery bundle: the folder that goes on the USB stick.

It holds the tarball (split into parts smaller than the part size, 4 GiB by
default, so a FAT32 stick takes them), ``SHA256SUMS``, the stamp when there is
one, an ``install.sh`` that runs exactly the verified ``docker load`` and
``docker run``, and a plain-text ``README.txt`` for the people at the site.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
import shutil
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from siteproof.archive.index import open_archive, select_image
from siteproof.archive.model import Image
from siteproof.errors import InputError
from siteproof.remote.docker import ContainerSpec
from siteproof.runtime import container_spec
from siteproof.site import SiteProfile
from siteproof.stamp import STAMP_SUFFIX, profile_sha256, read_stamp, stamp_path_for

log = logging.getLogger(__name__)

GiB = 1024**3
DEFAULT_PART_SIZE = 4 * GiB
# `docker run --pull` exists from Docker 20.10 on; older engines reject it.
PULL_FLAG_DOCKER = (20, 10)
_CHUNK = 1024 * 1024
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": GiB, "t": 1024**4}


@dataclass(frozen=True, slots=True)
class Bundle:
    """A written delivery folder.

    Attributes:
        folder: where it is.
        tarball: the tarball's file name (as joined at the site).
        sha256: the whole tarball's sha256.
        size_bytes: the whole tarball's size.
        parts: the part file names, in order; empty when not split.
        stamp: the stamp's file name, or "" without one.
        run_argv: the ``docker run`` that install.sh runs.
    """

    folder: Path
    tarball: str
    sha256: str
    size_bytes: int
    parts: tuple[str, ...]
    stamp: str
    run_argv: tuple[str, ...]


def parse_size(text: str) -> int:
    """Return bytes for ``4GiB``, ``4G``, ``100MiB``, ``512k`` or ``1000``.

    Units are binary (1k = 1024 bytes).

    Raises:
        InputError: when the text is not a size of at least 2 bytes.
    """
    match = _SIZE.match(text)
    if not match:
        raise InputError(f"part size {text!r} is not a size like 4GiB or 700MiB")
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size < 2:
        raise InputError(f"part size {text!r} is too small")
    return size


def write_bundle(
    tarball: Path,
    folder: Path,
    profile: SiteProfile,
    *,
    stamp: Path | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    name: str = "",
) -> Bundle:
    """Write the delivery folder for *tarball* at the site *profile*.

    Args:
        tarball: the verified ``docker save`` tarball.
        folder: the output folder; created, and must be empty if it exists.
        profile: the site; its ``[run]`` gives the ``docker run``.
        stamp: the stamp to include (default: ``<tarball>.stamp.json`` when it
            exists).
        part_size: every part is smaller than this many bytes.
        name: the container name (default: from the image name).

    Raises:
        InputError: for a bad tarball, a non-empty folder, or a stamp that
            belongs to another tarball.
    """
    archive = open_archive(tarball)
    image = select_image(archive, profile.run.image, profile.site.platform)
    if name and not _CONTAINER_NAME.match(name):
        raise InputError(
            f"{name!r} is not a container name docker accepts",
            hint="use letters, digits, _ . and -, starting with a letter or digit",
        )
    argv = run_argv(profile, image, name or _container_name(image))
    stamp = stamp or _default_stamp(tarball, profile)
    if stamp:
        _check_stamp_site(stamp, profile)
    _prepare_folder(folder)
    file_name = _safe_name(tarball.name)
    try:
        sha256, parts = _copy_tarball(tarball, folder, file_name, part_size)
        if stamp:
            _copy_stamp(stamp, folder / (file_name + STAMP_SUFFIX), sha256)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    bundle = Bundle(
        folder=folder,
        tarball=file_name,
        sha256=sha256,
        size_bytes=tarball.stat().st_size,
        parts=parts,
        stamp=file_name + STAMP_SUFFIX if stamp else "",
        run_argv=tuple(argv),
    )
    _write_text(folder / "install.sh", render_install_script(bundle), mode=0o755)
    _write_text(folder / "README.txt", render_guide(bundle, profile, image))
    _write_sums(folder)
    log.info("bundle written to %s", folder)
    if not stamp:
        log.warning(
            "no stamp of %s for site %s was found; the bundle carries none",
            tarball.name,
            profile.name,
        )
    return bundle


def _default_stamp(tarball: Path, profile: SiteProfile) -> Path | None:
    """Find the stamp verify wrote: per site after a matrix, else the plain one."""
    plain = stamp_path_for(tarball)
    per_site = plain.with_name(f"{tarball.name}.{profile.name}{STAMP_SUFFIX}")
    return next((p for p in (per_site, plain) if p.exists()), None)


def _check_stamp_site(stamp: Path, profile: SiteProfile) -> None:
    """Refuse a stamp that proves the tarball for another site."""
    site = read_stamp(stamp).get("site")
    site = site if isinstance(site, dict) else {}
    if site.get("sha256") != profile_sha256(profile):
        raise InputError(
            f"stamp {stamp} was made for site {site.get('name', '?')}, not for "
            f"{profile.name}",
            hint="verify the tarball for this site first, or bundle for the site "
            "it was verified for",
        )


def _prepare_folder(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(
            f"output folder {folder} is not empty",
            hint="name a new folder, or empty this one",
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {folder}: {exc.strerror}") from None


# Docker's own rule for container names.
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def _safe_name(name: str) -> str:
    """Return a file name that survives sh word splitting and FAT32."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _copy_tarball(
    tarball: Path, folder: Path, name: str, part_size: int
) -> tuple[str, tuple[str, ...]]:
    """Copy the tarball, split when it is not smaller than *part_size*."""
    size = tarball.stat().st_size
    if size < part_size:
        shutil.copyfile(tarball, folder / name)
        with (folder / name).open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest(), ()
    limit = part_size - 1
    count = -(-size // limit)
    width = max(3, len(str(count)))
    parts = tuple(f"{name}.part{i:0{width}d}" for i in range(1, count + 1))
    digest = hashlib.sha256()
    with tarball.open("rb") as source:
        for part in parts:
            _copy_part(source, folder / part, limit, digest)
    log.info("split %s into %d parts under %d bytes", name, count, part_size)
    return digest.hexdigest(), parts


def _copy_part(
    source: BinaryIO, target: Path, limit: int, digest: hashlib._Hash
) -> None:
    remaining = limit
    with target.open("wb") as sink:
        while remaining:
            chunk = source.read(min(_CHUNK, remaining))
            if not chunk:
                break
            sink.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)


def _copy_stamp(stamp: Path, target: Path, sha256: str) -> None:
    """Copy the stamp byte for byte, after checking it is for this tarball."""
    recorded = read_stamp(stamp)["tarball"]["sha256"]
    if recorded != sha256:
        raise InputError(
            f"stamp {stamp} is for another tarball (sha256 {recorded}), not this "
            f"one ({sha256})",
            hint="bundle the tarball that was verified, or leave the stamp out",
        )
    shutil.copyfile(stamp, target)


def run_argv(profile: SiteProfile, image: Image, name: str) -> list[str]:
    """Return the ``docker run`` the site types, as verify ran it.

    ``--pull never`` stays only when the site's Docker knows ``--pull``.
    """
    spec: ContainerSpec = container_spec(
        profile.run,
        image=profile.run.image or (image.tags[0] if image.tags else image.id),
        name=name,
        exposed_ports=image.config.exposed_ports,
        network="",
        run_id="",
    )
    argv = replace(spec, labels={}).run_argv()
    if profile.site.docker < PULL_FLAG_DOCKER:
        index = argv.index("--pull")
        del argv[index : index + 2]
    return argv


def _container_name(image: Image) -> str:
    if not image.tags:
        return "app"
    repository = image.tags[0].rsplit("/", 1)[-1].split(":", 1)[0]
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", repository) or "app"


def render_install_script(bundle: Bundle) -> str:
    """Return install.sh with the bundle's names and ``docker run`` filled in."""
    argv = list(bundle.run_argv)
    settings = "\n".join(
        [
            f"TARBALL={shlex.quote(bundle.tarball)}",
            f"TARBALL_SHA256={bundle.sha256}",
            f"PARTS={shlex.quote(' '.join(bundle.parts))}",
            f"NAME={shlex.quote(argv[argv.index('--name') + 1])}",
            f"RUN_TEXT={shlex.quote(shlex.join(argv))}",
            "run_container() {",
            f"    {shlex.join(argv)}",
            "}",
        ]
    )
    template = resources.files("siteproof").joinpath("scripts", "install.sh")
    return template.read_text(encoding="utf-8").replace("@SETTINGS@", settings, 1)


def render_guide(bundle: Bundle, profile: SiteProfile, image: Image) -> str:
    """Return README.txt: what is in the folder and what to type at the site."""
    lines = [
        f"Delivery of {image.name} ({image.config.platform})",
        "",
        f"Tarball: {bundle.tarball}, {bundle.size_bytes} bytes",
        f"sha256:  {bundle.sha256}",
        f"Site:    {profile.name} ({profile.site.platform}, Docker "
        f"{profile.site.docker_text})",
        "",
        "In this folder",
        *_contents(bundle),
        "",
        "Install on the server (Linux)",
        "  1. Copy this whole folder to the server, e.g. to /opt/delivery.",
        "  2. Run, as root or as a member of the docker group:",
        "       sh /opt/delivery/install.sh",
        "     It checks every file, joins the parts, and runs:",
        f"       docker load -i {bundle.tarball}",
        f"       {shlex.join(bundle.run_argv)}",
        "  3. Check that it runs: docker ps; docker logs "
        + bundle.run_argv[bundle.run_argv.index("--name") + 1],
        "  To update a running installation: REPLACE=1 sh install.sh",
    ]
    lines += _joining(bundle) + _checking(bundle)
    return "\n".join(lines) + "\n"


def _contents(bundle: Bundle) -> list[str]:
    rows = []
    if bundle.parts:
        what = f"the image tarball in {len(bundle.parts)} parts"
        rows.append((f"{bundle.parts[0]} ...", what))
    else:
        rows.append((bundle.tarball, "the image tarball (docker save)"))
    rows += [
        ("SHA256SUMS", "the checksum of every file here"),
        ("install.sh", "checks, joins, loads and starts the image"),
    ]
    if bundle.stamp:
        rows.append((bundle.stamp, "signed proof that this tarball passed"))
    rows.append(("README.txt", "this guide"))
    width = max(len(name) for name, _ in rows)
    return [f"  {name:<{width}}  {what}" for name, what in rows]


def _joining(bundle: Bundle) -> list[str]:
    if not bundle.parts:
        return []
    return [
        "",
        "Joining the parts by hand (install.sh does it for you)",
        f"  Linux:   cat {' '.join(bundle.parts)} > {bundle.tarball}",
        f"  Windows: copy /b {'+'.join(bundle.parts)} {bundle.tarball}",
    ]


def _checking(bundle: Bundle) -> list[str]:
    lines = [
        "",
        "Checking the tarball by hand",
        f"  Linux:   sha256sum {bundle.tarball}",
        f"  Windows: certutil -hashfile {bundle.tarball} SHA256",
        f"  Either must print {bundle.sha256}",
    ]
    if bundle.stamp:
        lines.append(
            f"  With siteproof: siteproof stamp check {bundle.tarball} "
            "--key TEAM-KEY.pub"
        )
    return lines


def _write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")
    path.chmod(mode)


def _write_sums(folder: Path) -> None:
    lines = []
    for path in sorted(folder.iterdir()):
        if path.name != "SHA256SUMS":
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            lines.append(f"{digest}  {path.name}\n")
    (folder / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")
