"""Write image tarballs in the layouts ``docker save`` and OCI tools produce.

Layers come from :mod:`siteproof.archive.layer_writer`: built entry by entry,
taken from an existing root filesystem tar, or copied from another archive.
They are spooled to files through hashing and compression, so a large rootfs
never sits in memory. An archive can also be rewritten: read its images with
:func:`read_images`, change them with :func:`dataclasses.replace`, and write
them again (docker import on engine 20.10 ignores ``--platform``).

Example:
    >>> layer = LayerBuilder().add_dir("www").add_file("www/index.html", b"hi")
    >>> spec = ImageSpec(layers=(layer,), architecture="arm64", tags=("a:1",))
    >>> write_archive(path, [spec], ArchiveFormat.DOCKER_OCI)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from siteproof.archive.index import normalize_reference, open_archive
from siteproof.archive.layer_writer import (
    BlobLayer,
    LayerBuilder,
    LayerDigests,
    LayerSource,
    TarLayer,
    corrupt_trailer,
)
from siteproof.archive.model import DEFAULT_PATH, ArchiveFormat, Compression, Image
from siteproof.errors import ArchiveError

log = logging.getLogger(__name__)

CREATED = "2024-01-01T00:00:00Z"

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
LAYER_SUFFIX = {
    Compression.NONE: "",
    Compression.GZIP: "+gzip",
    Compression.ZSTD: "+zstd",
}
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One image to write: its layers, start-up config and tags.

    ``base_config`` seeds the config JSON (keys such as ``history`` or
    ``created`` survive a rewrite); the explicit fields always win over it.
    ``corrupt_layers`` lists layer indexes whose stored blob gets a harmless
    trailer (an empty gzip member, zstd frame or tar block), so the bytes no
    longer match the recorded digest; ``wrong_diff_ids`` lists layers whose
    diff_id in the config is replaced by a wrong one.
    """

    layers: Sequence[LayerSource]
    tags: Sequence[str] = ()
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Sequence[str] = (f"PATH={DEFAULT_PATH}",)
    working_dir: str = ""
    user: str = ""
    exposed_ports: Sequence[str] = ()
    healthcheck: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    base_config: Mapping[str, Any] = field(default_factory=dict)
    compression: Compression | None = None
    corrupt_layers: frozenset[int] = frozenset()
    wrong_diff_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """Several images under one tag as a nested OCI image index (multi-arch)."""

    images: Sequence[ImageSpec]
    tags: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class _WrittenLayer:
    digests: LayerDigests
    spool: Path

    @property
    def hex(self) -> str:
        return self.digests.digest.removeprefix("sha256:")

    @property
    def media_type(self) -> str:
        return MEDIA_OCI_LAYER + LAYER_SUFFIX.get(self.digests.compression, "")


@dataclass(frozen=True, slots=True)
class _WrittenImage:
    spec: ImageSpec
    tags: tuple[str, ...]
    config: bytes
    layers: tuple[_WrittenLayer, ...]
    diff_ids: tuple[str, ...]

    @property
    def config_hex(self) -> str:
        return hashlib.sha256(self.config).hexdigest()

    def manifest(self) -> bytes:
        """Return the OCI image manifest JSON."""
        layers = [
            {
                "mediaType": w.media_type,
                "digest": w.digests.digest,
                "size": w.digests.size,
            }
            for w in self.layers
        ]
        document = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {
                "mediaType": MEDIA_OCI_CONFIG,
                "digest": "sha256:" + self.config_hex,
                "size": len(self.config),
            },
            "layers": layers,
        }
        return _json_bytes(document)


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _config_document(spec: ImageSpec, diff_ids: Sequence[str]) -> dict[str, Any]:
    """Build the image config JSON from *spec* over its ``base_config``."""
    document: dict[str, Any] = copy.deepcopy(dict(spec.base_config))
    document.setdefault("created", CREATED)
    document.update(os=spec.os, architecture=spec.architecture)
    if spec.variant:
        document["variant"] = spec.variant
    else:
        document.pop("variant", None)
    _update_container_config(document.setdefault("config", {}), spec)
    document["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    history = document.get("history")
    if not isinstance(history, list) or len(history) != len(diff_ids):
        document["history"] = [
            {"created": document["created"], "created_by": "siteproof writer"}
            for _ in diff_ids
        ]
    return document


def _update_container_config(config: dict[str, Any], spec: ImageSpec) -> None:
    """Set the start-up fields of a config's ``config`` section from *spec*."""
    config.update(
        Entrypoint=list(spec.entrypoint) or None,
        Cmd=list(spec.cmd) or None,
        Env=list(spec.env) or None,
        WorkingDir=spec.working_dir,
        User=spec.user,
        ExposedPorts={port: {} for port in spec.exposed_ports} or None,
        Labels=dict(spec.labels) or None,
    )
    if spec.healthcheck:
        config["Healthcheck"] = {"Test": list(spec.healthcheck)}
    else:
        config.pop("Healthcheck", None)


def _wrong_diff_id(diff_id: str) -> str:
    return _sha(b"wrong diff_id for " + diff_id.encode())


class _LayerSpooler:
    """Write each distinct layer blob once into a spool directory."""

    def __init__(self, directory: Path, compression: Compression) -> None:
        self._directory = directory
        self._compression = compression
        self._done: dict[tuple[LayerSource, Compression, bool], _WrittenLayer] = {}

    def spool(
        self, source: LayerSource, compression: Compression | None, corrupt: bool
    ) -> _WrittenLayer:
        kind = compression or self._compression
        key = (source, kind, corrupt)
        if key not in self._done:
            path = self._directory / f"layer-{len(self._done)}"
            with path.open("wb") as sink:
                digests = source.write_blob(sink, kind)
                if corrupt:
                    sink.write(corrupt_trailer(digests.compression))
            log.debug("spooled layer %s (%d bytes)", digests.digest, digests.size)
            self._done[key] = _WrittenLayer(digests, path)
        return self._done[key]

    def write_image(self, spec: ImageSpec, tags: Sequence[str]) -> _WrittenImage:
        layers = tuple(
            self.spool(source, spec.compression, i in spec.corrupt_layers)
            for i, source in enumerate(spec.layers)
        )
        diff_ids = tuple(
            _wrong_diff_id(w.digests.diff_id)
            if i in spec.wrong_diff_ids
            else w.digests.diff_id
            for i, w in enumerate(layers)
        )
        config = _json_bytes(_config_document(spec, diff_ids))
        return _WrittenImage(spec, tuple(tags), config, layers, diff_ids)


class _ArchiveOut:
    """The output tarball: adds directories once, bytes and spooled files."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self._tar = tar
        self._names: set[str] = set()

    def _add(self, name: str, size: int, content: BinaryIO | None = None) -> None:
        """Add a member once; later additions of the same name are shared copies."""
        if name in self._names:
            return
        self._names.add(name)
        info = tarfile.TarInfo(name)
        info.mtime, info.size = 0, size
        if content is None:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
        self._tar.addfile(info, content)

    def add_dir(self, name: str) -> None:
        self._add(name, 0)

    def add_bytes(self, name: str, data: bytes) -> None:
        self._add(name, len(data), io.BytesIO(data))

    def add_spooled(self, name: str, path: Path) -> None:
        with path.open("rb") as handle:
            self._add(name, path.stat().st_size, handle)


def _split_tag(tag: str) -> tuple[str, str]:
    name, sep, version = tag.rpartition(":")
    if not sep or "/" in version:
        return tag, "latest"
    return name, version


def _full_name(tag: str) -> str:
    """Spell a tag as containerd does (``docker.io/library/busybox:1``)."""
    name, version = _split_tag(tag)
    first = name.split("/")[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    return f"{name}:{version}"


def _repositories(images: Iterable[_WrittenImage], top: Mapping[int, str]) -> bytes:
    repositories: dict[str, dict[str, str]] = {}
    for number, image in enumerate(images):
        for tag in image.tags:
            name, version = _split_tag(tag)
            repositories.setdefault(name, {})[version] = top[number]
    return _json_bytes(repositories)


def _write_docker(out: _ArchiveOut, images: Sequence[_WrittenImage]) -> None:
    """Lay images out as docker 20.10 ``docker save`` does."""
    manifest, tops = [], {}
    for number, image in enumerate(images):
        parent, members = "", []
        for index, layer in enumerate(image.layers):
            layer_id = hashlib.sha256(
                f"{parent}\n{image.diff_ids[index]}\n{layer.hex}".encode()
            ).hexdigest()
            out.add_dir(f"{layer_id}/")
            out.add_bytes(f"{layer_id}/VERSION", b"1.0")
            out.add_bytes(f"{layer_id}/json", _v1_layer_json(layer_id, parent))
            out.add_spooled(f"{layer_id}/layer.tar", layer.spool)
            members.append(f"{layer_id}/layer.tar")
            parent = layer_id
        out.add_bytes(f"{image.config_hex}.json", image.config)
        tops[number] = parent
        manifest.append(
            {
                "Config": f"{image.config_hex}.json",
                "RepoTags": list(image.tags) or None,
                "Layers": members,
            }
        )
    out.add_bytes("manifest.json", _json_bytes(manifest))
    if any(image.tags for image in images):
        out.add_bytes("repositories", _repositories(images, tops))


def _v1_layer_json(layer_id: str, parent: str) -> bytes:
    document: dict[str, Any] = {"id": layer_id, "created": CREATED, "os": "linux"}
    if parent:
        document["parent"] = parent
    return _json_bytes(document)


def _add_image_blobs(out: _ArchiveOut, image: _WrittenImage) -> tuple[str, int]:
    """Add layers, config and manifest blobs; return the manifest's digest, size."""
    out.add_dir("blobs/")
    out.add_dir("blobs/sha256/")
    for layer in image.layers:
        out.add_spooled(f"blobs/sha256/{layer.hex}", layer.spool)
    out.add_bytes(f"blobs/sha256/{image.config_hex}", image.config)
    manifest = image.manifest()
    out.add_bytes(f"blobs/sha256/{hashlib.sha256(manifest).hexdigest()}", manifest)
    return _sha(manifest), len(manifest)


def _descriptor(
    media_type: str, digest: str, size: int, tag: str | None, *, docker: bool
) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "mediaType": media_type,
        "digest": digest,
        "size": size,
    }
    if tag is not None:
        ref = _split_tag(tag)[1] if docker else tag
        descriptor["annotations"] = {CONTAINERD_NAME: _full_name(tag), REF_NAME: ref}
    return descriptor


def _tagged(tags: Sequence[str]) -> list[str | None]:
    return list(tags) or [None]


def _write_docker_oci(out: _ArchiveOut, images: Sequence[_WrittenImage]) -> None:
    """Lay images out as Docker 25+ ``docker save`` does."""
    descriptors, manifest, tops = [], [], {}
    for number, image in enumerate(images):
        digest, size = _add_image_blobs(out, image)
        descriptors += [
            _descriptor(MEDIA_OCI_MANIFEST, digest, size, tag, docker=True)
            for tag in _tagged(image.tags)
        ]
        manifest.append(
            {
                "Config": f"blobs/sha256/{image.config_hex}",
                "RepoTags": list(image.tags) or None,
                "Layers": [f"blobs/sha256/{layer.hex}" for layer in image.layers],
            }
        )
        tops[number] = image.config_hex
    out.add_bytes("index.json", _index_json(descriptors))
    out.add_bytes("manifest.json", _json_bytes(manifest))
    out.add_bytes("oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
    if any(image.tags for image in images):
        out.add_bytes("repositories", _repositories(images, tops))


def _index_json(descriptors: Sequence[Mapping[str, Any]]) -> bytes:
    return _json_bytes(
        {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": descriptors}
    )


def _platform(spec: ImageSpec) -> dict[str, str]:
    platform = {"architecture": spec.architecture, "os": spec.os}
    if spec.variant:
        platform["variant"] = spec.variant
    return platform


def _write_oci(
    out: _ArchiveOut,
    items: Sequence[_WrittenImage | tuple[IndexSpec, list[_WrittenImage]]],
) -> None:
    """Lay images out as an OCI image layout (skopeo ``oci-archive:``)."""
    descriptors: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, _WrittenImage):
            digest, size = _add_image_blobs(out, item)
            media_type, tags = MEDIA_OCI_MANIFEST, item.tags
        else:
            digest, size = _add_nested_index(out, item[1])
            media_type, tags = MEDIA_OCI_INDEX, tuple(item[0].tags)
        descriptors += [
            _descriptor(media_type, digest, size, tag, docker=False)
            for tag in _tagged(tags)
        ]
    out.add_bytes("oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
    out.add_bytes("index.json", _index_json(descriptors))


def _add_nested_index(
    out: _ArchiveOut, images: Sequence[_WrittenImage]
) -> tuple[str, int]:
    manifests = []
    for image in images:
        digest, size = _add_image_blobs(out, image)
        descriptor = _descriptor(MEDIA_OCI_MANIFEST, digest, size, None, docker=False)
        descriptor["platform"] = _platform(image.spec)
        manifests.append(descriptor)
    index = _index_json(manifests)
    out.add_bytes(f"blobs/sha256/{hashlib.sha256(index).hexdigest()}", index)
    return _sha(index), len(index)


def write_archive(
    path: Path,
    images: Sequence[ImageSpec | IndexSpec],
    fmt: ArchiveFormat,
    *,
    compression: Compression = Compression.NONE,
) -> Path:
    """Write *images* as one image tarball at *path* (atomically).

    Args:
        path: where the tarball goes; replaced only once fully written.
        images: the images; an :class:`IndexSpec` (OCI only) groups several
            platforms under one tag.
        fmt: the layout to write.
        compression: for layers whose spec does not choose one; blobs taken
            from another archive keep theirs.

    Returns:
        *path*.

    Raises:
        ArchiveError: an :class:`IndexSpec` was given for a Docker layout.
    """
    if fmt is not ArchiveFormat.OCI and any(isinstance(i, IndexSpec) for i in images):
        raise ArchiveError(
            f"a nested image index needs the OCI layout, not {fmt.value}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".spool-") as spool_dir:
        spooler = _LayerSpooler(Path(spool_dir), compression)
        partial = Path(spool_dir) / "archive.tar"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _write_layout(_ArchiveOut(tar), spooler, images, fmt)
        os.replace(partial, path)
    log.info("wrote %s (%s, %d images)", path, fmt.value, len(images))
    return path


def _write_layout(
    out: _ArchiveOut,
    spooler: _LayerSpooler,
    images: Sequence[ImageSpec | IndexSpec],
    fmt: ArchiveFormat,
) -> None:
    items: list[_WrittenImage | tuple[IndexSpec, list[_WrittenImage]]] = []
    for item in images:
        if isinstance(item, IndexSpec):
            items.append((item, [spooler.write_image(i, ()) for i in item.images]))
        else:
            items.append(spooler.write_image(item, item.tags))
    flat = [item for item in items if isinstance(item, _WrittenImage)]
    if fmt is ArchiveFormat.DOCKER:
        _write_docker(out, flat)
    elif fmt is ArchiveFormat.DOCKER_OCI:
        _write_docker_oci(out, flat)
    else:
        _write_oci(out, items)


# Reading images back for a rewrite.


def _spec_from_image(
    path: Path, image: Image, document: Mapping[str, Any]
) -> ImageSpec:
    config = image.config
    return ImageSpec(
        layers=tuple(BlobLayer(path, layer) for layer in image.layers),
        tags=tuple(normalize_reference(tag) for tag in image.tags),
        os=config.os,
        architecture=config.architecture,
        variant=config.variant,
        entrypoint=config.entrypoint,
        cmd=config.cmd,
        env=config.env,
        working_dir=config.working_dir,
        user=config.user,
        exposed_ports=config.exposed_ports,
        healthcheck=config.healthcheck,
        labels=dict(config.labels),
        base_config=document,
    )


def _read_config(path: Path, tar: tarfile.TarFile, image: Image) -> Any:
    handle = tar.extractfile(image.config_blob)
    if handle is None:
        raise ArchiveError(f"{path}: config {image.config_blob} is not a file")
    return json.load(handle)


def read_images(path: Path) -> list[ImageSpec]:
    """Read the images of an existing tarball as specs that reproduce them.

    Layers become :class:`BlobLayer` copies of the blobs in *path*, so *path*
    must stay in place until the new archive is written. The full config JSON
    is kept as ``base_config``, so fields this module does not model survive.

    Raises:
        ArchiveError: when *path* is not a readable image tarball.
    """
    archive = open_archive(path)
    with tarfile.open(path, mode="r:") as tar:
        return [
            _spec_from_image(path, image, _read_config(path, tar, image))
            for image in archive.images
        ]


def rewrite_archive(
    source: Path,
    target: Path,
    fmt: ArchiveFormat,
    **changes: Any,
) -> Path:
    """Copy every image of *source* to *target*, changing config fields.

    Args:
        source: an existing image tarball.
        target: where the rewritten tarball goes (may equal *source*).
        fmt: the layout to write.
        **changes: :class:`ImageSpec` fields to set on every image, e.g.
            ``architecture="arm64"``.

    Returns:
        *target*.
    """
    specs = [replace(spec, **changes) for spec in read_images(source)]
    return write_archive(target, specs, fmt)


__all__ = [
    "BlobLayer",
    "Compression",
    "ImageSpec",
    "IndexSpec",
    "LayerBuilder",
    "LayerDigests",
    "LayerSource",
    "TarLayer",
    "read_images",
    "rewrite_archive",
    "write_archive",
]
