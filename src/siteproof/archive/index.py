"""Find the images in a tarball: manifest.json, OCI index.json, or both."""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, cast

from siteproof.archive.model import (
    Archive,
    ArchiveFormat,
    BlobProblem,
    Compression,
    Image,
    ImageConfig,
    Layer,
    json_mapping,
    json_string,
    json_strings,
)
from siteproof.archive.streams import detect_compression, file_size, tar_end_problem
from siteproof.errors import ArchiveError, InputError
from siteproof.platforms import Platform

log = logging.getLogger(__name__)

_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_REF_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_COPY_AGAIN = "the copy is incomplete or damaged; copy or export it again"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Docker nests at most an index in an index; more is a loop or garbage.
_MAX_INDEX_DEPTH = 4
# Reading metadata members whole is fine; anything larger is not metadata.
_MAX_METADATA_BYTES = 16 << 20


class _Members:
    """The members of the outer tarball, with safe access to small ones."""

    def __init__(self, path: Path, tar: tarfile.TarFile) -> None:
        self.path = path
        self._tar = tar
        self._by_name: dict[str, tarfile.TarInfo] = {}
        for member in tar.getmembers():
            self._by_name[posixpath.normpath(member.name).lstrip("/")] = member

    def __contains__(self, name: str) -> bool:
        return posixpath.normpath(name) in self._by_name

    def get(self, name: str) -> tarfile.TarInfo:
        """Return a member by name, following in-archive symlinks."""
        key = posixpath.normpath(name).lstrip("/")
        for _ in range(8):
            member = self._by_name.get(key)
            if member is None:
                raise ArchiveError(
                    f"{self.path}: {name} is listed but missing from the tarball",
                    hint="the tarball is incomplete; export it again",
                )
            if not member.issym():
                return member
            key = posixpath.normpath(
                posixpath.join(posixpath.dirname(key), member.linkname)
            )
        raise ArchiveError(f"{self.path}: {name} is a symlink loop")

    def read(self, name: str) -> bytes:
        """Return the whole content of a small member."""
        member = self.get(name)
        if member.size > _MAX_METADATA_BYTES:
            raise ArchiveError(f"{self.path}: {name} is too large for metadata")
        handle = self._tar.extractfile(member)
        if handle is None:
            raise ArchiveError(f"{self.path}: {name} is not a regular file")
        data = handle.read()
        if len(data) != member.size:
            raise ArchiveError(f"{self.path} is truncated inside {name}")
        return data

    def read_json(self, name: str) -> Any:
        """Parse a member as JSON."""
        try:
            return json.loads(self.read(name))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArchiveError(
                f"{self.path}: {name} is not valid JSON: {exc}"
            ) from None

    def magic(self, name: str) -> bytes:
        """Return the first four bytes of a member."""
        handle = self._tar.extractfile(self.get(name))
        return handle.read(4) if handle else b""


def open_archive(path: Path) -> Archive:
    """Read the index of an image tarball without reading its layers.

    Raises:
        ArchiveError: when the file is missing, is not a tar, is truncated,
            or holds no image.
    """
    size = _checked_size(path)
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = _Members(path, tar)
            _check_not_truncated(path, tar, size)
            archive = _read_index(members, size)
    except tarfile.TarError as exc:
        raise _describe_tar_error(path, size, exc) from None
    log.debug(
        "%s: %s archive, %d image(s)", path, archive.format.value, len(archive.images)
    )
    return archive


def _checked_size(path: Path) -> int:
    if not path.exists():
        raise ArchiveError(f"{path} does not exist")
    if not path.is_file():
        raise ArchiveError(f"{path} is not a file")
    try:
        return file_size(path)
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror}") from None


def _describe_tar_error(path: Path, size: int, exc: Exception) -> ArchiveError:
    if size == 0:
        return ArchiveError(f"{path} is empty")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK\x03\x04"):
        return ArchiveError(
            f"{path} is a zip file, not a docker save tarball",
            hint="unzip it first, or send the .tar that docker save wrote",
        )
    if detect_compression(magic) is not Compression.NONE:
        return ArchiveError(
            f"{path} is a compressed file, not a docker save tarball",
            hint="decompress it first (gunzip / zstd -d)",
        )
    text = str(exc)
    if _starts_like_tar(path) and ("unexpected end" in text or "truncated" in text):
        return ArchiveError(f"{path} is truncated: {text}", hint=_COPY_AGAIN)
    return ArchiveError(
        f"{path} is not a tar archive",
        hint="give the file that `docker save -o FILE IMAGE` wrote",
    )


def _starts_like_tar(path: Path) -> bool:
    """Tell whether the file begins with a valid tar header."""
    with path.open("rb") as handle:
        block = handle.read(tarfile.BLOCKSIZE)
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _check_not_truncated(path: Path, tar: tarfile.TarFile, size: int) -> None:
    last = "the start"
    for member in tar.getmembers():
        if member.isreg() and member.offset_data + member.size > size:
            raise ArchiveError(
                f"{path} is truncated: {member.name} needs "
                f"{member.offset_data + member.size} bytes, the file has {size}",
                hint=_COPY_AGAIN,
            )
        last = member.name
    assert tar.fileobj is not None
    tar.fileobj.seek(tar.offset)
    problem = tar_end_problem(cast(IO[bytes], tar.fileobj))
    if problem:
        raise ArchiveError(
            f"{path} is truncated or damaged after {last}: {problem}",
            hint=_COPY_AGAIN,
        )


def _read_index(members: _Members, size: int) -> Archive:
    path = members.path
    if "manifest.json" in members:
        has_oci = "index.json" in members and "oci-layout" in members
        fmt = ArchiveFormat.DOCKER_OCI if has_oci else ArchiveFormat.DOCKER
        archive = Archive(str(path), fmt, [], size)
        archive.images = list(_docker_images(members, archive))
    elif "index.json" in members:
        archive = Archive(str(path), ArchiveFormat.OCI, [], size)
        index = members.read_json("index.json")
        archive.images = list(_oci_images(members, archive, index, ()))
    else:
        raise ArchiveError(
            f"{path} holds no image: it has neither manifest.json nor index.json",
            hint="create it with `docker save -o FILE IMAGE`",
        )
    if not archive.images:
        raise ArchiveError(f"{path} holds no image: its index lists none")
    return archive


def _blob_digest(name: str) -> str:
    """Return the digest a blob's member name states, or "" (legacy layout)."""
    parts = posixpath.normpath(name).split("/")
    if len(parts) == 3 and parts[0] == "blobs":
        return f"{parts[1]}:{parts[2]}"
    stem = parts[-1].removesuffix(".json")
    if len(parts) == 1 and len(stem) == 64:
        return f"sha256:{stem}"
    return ""


def _checked_blob(members: _Members, archive: Archive, name: str) -> bytes:
    """Read a metadata blob and note it if its bytes do not match its name."""
    data = members.read(name)
    expected = _blob_digest(name)
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if expected.startswith("sha256:") and expected != actual:
        archive.problems.append(BlobProblem(name, expected, actual, "blob digest"))
    return data


def _config(members: _Members, archive: Archive, name: str) -> ImageConfig:
    data = _checked_blob(members, archive, name)
    try:
        return ImageConfig.from_json(json.loads(data))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ArchiveError(
            f"{members.path}: config {name} is not a valid image config: {exc}"
        ) from None


def _docker_images(members: _Members, archive: Archive) -> Iterator[Image]:
    manifest = members.read_json("manifest.json")
    if not isinstance(manifest, list):
        raise ArchiveError(f"{members.path}: manifest.json is not a list")
    for number, item in enumerate(manifest):
        where = f"manifest.json entry {number}: "
        try:
            entry = json_mapping(item, f"{where}it")
            config_name = json_string(entry, "Config", where)
            layer_names = list(json_strings(entry, "Layers", where))
            tags = json_strings(entry, "RepoTags", where)
        except ValueError as exc:
            raise ArchiveError(f"{members.path}: {exc}") from None
        if not config_name:
            raise ArchiveError(f"{members.path}: {where}it names no Config")
        config = _config(members, archive, config_name)
        _check_layer_count(members.path, config, layer_names)
        layers = tuple(
            _layer(members, name, digest=_blob_digest(name), diff_id=diff_id)
            for name, diff_id in zip(layer_names, config.diff_ids, strict=True)
        )
        yield Image(
            config_digest=_config_digest(members, config_name),
            config_blob=config_name,
            tags=tags,
            config=config,
            layers=layers,
        )


def _config_digest(members: _Members, name: str) -> str:
    return _blob_digest(name) or (
        "sha256:" + hashlib.sha256(members.read(name)).hexdigest()
    )


def _check_layer_count(path: Path, config: ImageConfig, layers: list[str]) -> None:
    if len(layers) != len(config.diff_ids):
        raise ArchiveError(
            f"{path}: the manifest lists {len(layers)} layers but the image "
            f"config has {len(config.diff_ids)} diff_ids"
        )


def _layer(
    members: _Members, name: str, *, digest: str, diff_id: str, media_type: str = ""
) -> Layer:
    member = members.get(name)
    return Layer(
        blob=member.name,
        digest=digest,
        diff_id=diff_id,
        media_type=media_type,
        compression=detect_compression(members.magic(name)),
        size=member.size,
        offset=member.offset_data,
    )


def _oci_images(
    members: _Members,
    archive: Archive,
    index: Any,
    inherited_tags: tuple[str, ...],
    depth: int = 0,
) -> Iterator[Image]:
    if depth > _MAX_INDEX_DEPTH:
        raise ArchiveError(f"{members.path}: image indexes nest too deep (a loop?)")
    try:
        descriptors = _descriptors(json_mapping(index, "the index"), "manifests")
    except ValueError as exc:
        raise ArchiveError(f"{members.path}: {exc}") from None
    for descriptor in descriptors:
        tags = _ref_names(members.path, descriptor) or inherited_tags
        name = _descriptor_member(members.path, descriptor)
        document = _json_blob(members, archive, name)
        nested = descriptor.get("mediaType") in _INDEX_TYPES or "manifests" in document
        if nested:
            yield from _oci_images(members, archive, document, tags, depth + 1)
        else:
            yield _oci_image(members, archive, document, tags)


def _json_blob(members: _Members, archive: Archive, name: str) -> Mapping[str, Any]:
    try:
        document = json.loads(_checked_blob(members, archive, name))
        return json_mapping(document, f"blob {name}")
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ArchiveError(
            f"{members.path}: {name} is not a valid manifest: {exc}"
        ) from None


def _descriptors(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = document.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key} is not a list")
    return [json_mapping(item, f"{key}[{n}]") for n, item in enumerate(value)]


def _ref_names(path: Path, descriptor: Mapping[str, Any]) -> tuple[str, ...]:
    try:
        annotations = json_mapping(descriptor.get("annotations"), "annotations")
        full = json_string(annotations, _REF_ANNOTATIONS[0], "annotation ")
        short = json_string(annotations, _REF_ANNOTATIONS[1], "annotation ")
    except ValueError as exc:
        raise ArchiveError(f"{path}: {exc}") from None
    if full:
        return (full,)
    return (short,) if short else ()


def _descriptor_member(path: Path, descriptor: Mapping[str, Any]) -> str:
    digest = descriptor.get("digest")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ArchiveError(
            f"{path}: a descriptor's digest {digest!r} is not sha256:<64 hex digits>"
        )
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _oci_image(
    members: _Members,
    archive: Archive,
    manifest: Mapping[str, Any],
    tags: tuple[str, ...],
) -> Image:
    try:
        config_descriptor = json_mapping(manifest.get("config"), "config")
        descriptors = _descriptors(manifest, "layers")
    except ValueError as exc:
        raise ArchiveError(f"{members.path}: image manifest: {exc}") from None
    config_name = _descriptor_member(members.path, config_descriptor)
    config = _config(members, archive, config_name)
    layer_names = [_descriptor_member(members.path, d) for d in descriptors]
    _check_layer_count(members.path, config, layer_names)
    layers = tuple(
        _layer(
            members,
            name,
            digest=str(d.get("digest", "")),
            diff_id=diff_id,
            media_type=str(d.get("mediaType", "")),
        )
        for name, d, diff_id in zip(
            layer_names, descriptors, config.diff_ids, strict=True
        )
    )
    return Image(
        config_digest=_blob_digest(config_name),
        config_blob=config_name,
        tags=tags,
        config=config,
        layers=layers,
    )


def normalize_reference(reference: str) -> str:
    """Spell an image reference the way ``docker images`` shows it."""
    name = reference.strip()
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        name += ":latest"
    return name


def select_image(archive: Archive, reference: str, platform: Platform) -> Image:
    """Pick the image the site starts: by reference, else the only one.

    Among several images with the same name (a multi-platform OCI index), the
    one for the site's platform wins.

    Raises:
        InputError: when the reference matches nothing or the choice is open.
    """
    candidates = archive.images
    if reference:
        wanted = normalize_reference(reference)
        candidates = [
            image
            for image in archive.images
            if wanted in {normalize_reference(t) for t in image.tags}
            or image.config_digest.removeprefix("sha256:").startswith(
                reference.removeprefix("sha256:")
            )
        ]
        if not candidates:
            raise InputError(
                f"image {reference} is not in {archive.path}",
                hint="it holds: " + _describe_images(archive.images),
            )
    if len(candidates) > 1:
        native = [i for i in candidates if platform.matches(i.config.platform)]
        if len(native) == 1:
            return native[0]
        if len({i.tags for i in candidates}) == 1:
            return candidates[0]
        raise InputError(
            f"{archive.path} holds {len(candidates)} images; name the one the "
            "site starts",
            hint="set [run] image in the site file or pass --image; it holds: "
            + _describe_images(candidates),
        )
    return candidates[0]


def _describe_images(images: list[Image]) -> str:
    return ", ".join(f"{image.name} ({image.config.platform})" for image in images)
