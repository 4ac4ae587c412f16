"""The tarball reader against real tar files written by the project's writer."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
from pathlib import Path

import pytest

from siteproof.archive.index import open_archive, select_image
from siteproof.archive.layers import read_filesystem
from siteproof.archive.model import (
    ArchiveFormat,
    Compression,
    EntryType,
    ImageFilesystem,
    SymlinkLoopError,
)
from siteproof.archive.writer import (
    ImageSpec,
    IndexSpec,
    LayerBuilder,
    TarLayer,
    write_archive,
)
from siteproof.errors import ArchiveError, InputError
from siteproof.platforms import Platform

ARM64 = Platform.parse("linux/arm64")


def _base_layer() -> LayerBuilder:
    return (
        LayerBuilder()
        .add_dir("etc")
        .add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        .add_dir("app")
        .add_file("app/run.sh", b"#!/bin/sh\r\necho hi\r\n", mode=0o755)
        .add_file("app/keep.txt", b"keep")
        .add_dir("app/cache")
        .add_file("app/cache/a", b"a")
        .add_dir("opt")
        .add_file("opt/old", b"old")
        .add_dir("usr/bin")
        .add_file("usr/bin/tool", b"tool", mode=0o755)
        .add_symlink("bin", "usr/bin")
    )


def _upper_layer() -> LayerBuilder:
    return (
        LayerBuilder()
        .add_whiteout("app/keep.txt")
        .add_whiteout("app/cache")
        .add_opaque("opt")
        .add_file("opt/new", b"new")
        .add_symlink("app/abs", "/usr/bin/tool")
        .add_symlink("app/up", "../../../usr/bin/tool")
        .add_symlink("app/loop1", "loop2")
        .add_symlink("app/loop2", "loop1")
        .add_hardlink("app/hard", "usr/bin/tool")
    )


def _write(tmp_path: Path, fmt: ArchiveFormat, compression: Compression) -> Path:
    spec = ImageSpec(
        layers=[_base_layer(), _upper_layer()],
        tags=["acme/app:1"],
        architecture="arm64",
        entrypoint=["/app/run.sh"],
    )
    return write_archive(
        tmp_path / f"{fmt.value}.tar", [spec], fmt, compression=compression
    )


def _filesystem(path: Path) -> ImageFilesystem:
    archive = open_archive(path)
    image = select_image(archive, "", ARM64)
    filesystem = read_filesystem(archive, image)
    assert archive.problems == []
    return filesystem


@pytest.mark.parametrize("fmt", list(ArchiveFormat))
@pytest.mark.parametrize(
    "compression", [Compression.NONE, Compression.GZIP, Compression.ZSTD]
)
def test_open_archive_reads_every_layout_and_compression(
    tmp_path: Path, fmt: ArchiveFormat, compression: Compression
) -> None:
    archive = open_archive(_write(tmp_path, fmt, compression))

    assert archive.format is fmt
    [image] = archive.images
    assert image.config.platform == ARM64
    assert image.config.entrypoint == ("/app/run.sh",)
    assert [layer.compression for layer in image.layers] == [compression] * 2
    assert normalize_tags(image.tags) == ["acme/app:1"]
    filesystem = read_filesystem(archive, image)
    assert archive.problems == []
    assert filesystem.resolve("/opt/new") is not None


def normalize_tags(tags: tuple[str, ...]) -> list[str]:
    return [t.removeprefix("docker.io/") for t in tags]


def test_read_filesystem_applies_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    filesystem = _filesystem(_write(tmp_path, ArchiveFormat.DOCKER, Compression.GZIP))

    assert filesystem.get("/app/keep.txt") is None
    assert filesystem.get("/app/cache") is None
    assert filesystem.get("/app/cache/a") is None
    assert filesystem.get("/opt/old") is None
    assert filesystem.get("/opt/new") is not None
    assert filesystem.listdir("/opt") == ["new"]
    assert filesystem.get("/app/run.sh") is not None


def test_read_filesystem_records_type_mode_owner_and_shebang(tmp_path: Path) -> None:
    filesystem = _filesystem(_write(tmp_path, ArchiveFormat.OCI, Compression.ZSTD))

    script = filesystem.get("/app/run.sh")
    assert script is not None
    assert script.type is EntryType.FILE
    assert script.mode == 0o755
    assert script.head.startswith(b"#!/bin/sh\r\n")
    assert script.has_crlf
    assert script.layer == 0
    passwd = filesystem.read_text("/etc/passwd")
    assert passwd is not None
    assert passwd.startswith("root:x:0:0")


def test_entry_offset_points_at_its_bytes_in_the_layer(tmp_path: Path) -> None:
    path = _write(tmp_path, ArchiveFormat.DOCKER, Compression.NONE)
    archive = open_archive(path)
    image = archive.images[0]
    entry = read_filesystem(archive, image).get("/usr/bin/tool")
    assert entry is not None

    with path.open("rb") as handle:
        handle.seek(image.layers[entry.layer].offset + entry.offset)
        assert handle.read(entry.size) == b"tool"


def test_resolve_follows_symlinks_inside_the_image_root(tmp_path: Path) -> None:
    filesystem = _filesystem(_write(tmp_path, ArchiveFormat.DOCKER, Compression.NONE))

    assert filesystem.realpath("/bin/tool") == "/usr/bin/tool"
    assert filesystem.realpath("/app/abs") == "/usr/bin/tool"
    # `..` stops at the image root instead of escaping it.
    assert filesystem.realpath("/app/up") == "/usr/bin/tool"
    hard = filesystem.resolve("/app/hard")
    assert hard is not None
    assert hard.path == "/usr/bin/tool"
    assert filesystem.resolve("/bin/missing") is None
    with pytest.raises(SymlinkLoopError):
        filesystem.resolve("/app/loop1")


def test_read_filesystem_reports_corrupt_blob_and_wrong_diff_id(
    tmp_path: Path,
) -> None:
    spec = ImageSpec(
        layers=[_base_layer(), _upper_layer()],
        tags=["acme/app:1"],
        architecture="arm64",
        corrupt_layers=frozenset({0}),
        wrong_diff_ids=frozenset({1}),
    )
    path = write_archive(
        tmp_path / "bad.tar",
        [spec],
        ArchiveFormat.DOCKER_OCI,
        compression=Compression.GZIP,
    )
    archive = open_archive(path)
    read_filesystem(archive, archive.images[0])

    kinds = sorted((p.blob, p.what) for p in archive.problems)
    layers = archive.images[0].layers
    assert (layers[0].blob, "blob digest") in kinds
    assert (layers[1].blob, "diff_id") in kinds


def test_select_image_picks_by_reference_and_refuses_an_open_choice(
    tmp_path: Path,
) -> None:
    one = ImageSpec(layers=[_base_layer()], tags=["acme/one:1"], architecture="arm64")
    two = ImageSpec(layers=[_base_layer()], tags=["acme/two:2"], architecture="arm64")
    archive = open_archive(
        write_archive(tmp_path / "two.tar", [one, two], ArchiveFormat.DOCKER)
    )

    assert select_image(archive, "acme/two:2", ARM64).tags == ("acme/two:2",)
    assert select_image(archive, "docker.io/acme/one:1", ARM64).tags == ("acme/one:1",)
    with pytest.raises(InputError, match="holds 2 images"):
        select_image(archive, "", ARM64)
    with pytest.raises(InputError, match="acme/three:3 is not in"):
        select_image(archive, "acme/three:3", ARM64)


def test_select_image_takes_the_site_platform_from_a_nested_index(
    tmp_path: Path,
) -> None:
    images = [
        ImageSpec(layers=[_base_layer()], architecture=arch)
        for arch in ("amd64", "arm64", "s390x")
    ]
    path = write_archive(
        tmp_path / "multi.tar",
        [IndexSpec(images=images, tags=["acme/multi:1"])],
        ArchiveFormat.OCI,
    )
    archive = open_archive(path)

    assert len(archive.images) == 3
    chosen = select_image(archive, "acme/multi:1", ARM64)
    assert chosen.config.architecture == "arm64"


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_open_archive_refuses_files_that_are_not_image_tarballs(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a tarball\n" * 40)
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    plain = tmp_path / "plain.tar"
    plain.write_bytes(_tar_bytes({"readme.md": b"no image here"}))
    zipped = tmp_path / "image.tar.gz"
    zipped.write_bytes(gzip.compress(_tar_bytes({"manifest.json": b"[]"})))

    cases = {
        tmp_path / "missing.tar": "does not exist",
        text: "not a tar archive",
        empty: "is empty",
        plain: "holds no image",
        zipped: "compressed file",
    }
    for path, message in cases.items():
        with pytest.raises(ArchiveError, match=message):
            open_archive(path)


def test_open_archive_detects_a_truncated_tarball(tmp_path: Path) -> None:
    path = _write(tmp_path, ArchiveFormat.DOCKER, Compression.NONE)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[: len(data) // 2])

    with pytest.raises(ArchiveError, match="truncated"):
        open_archive(truncated)


def _member_offsets(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_open_archive_detects_a_cut_in_the_last_header_or_end_blocks(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, ArchiveFormat.DOCKER, Compression.NONE)
    data = path.read_bytes()
    last = max(_member_offsets(path).values(), key=lambda m: m.offset)
    end_of_last = last.offset_data + -(-last.size // 512) * 512
    cuts = [last.offset + 100, end_of_last + 300, end_of_last + 700]

    for cut in cuts:
        truncated = tmp_path / f"cut-{cut}.tar"
        truncated.write_bytes(data[:cut])
        with pytest.raises(ArchiveError, match="truncated"):
            open_archive(truncated)
    # Docker accepts an archive that ends right after a member or a zero block.
    for cut in (end_of_last, end_of_last + 512):
        clean = tmp_path / f"clean-{cut}.tar"
        clean.write_bytes(data[:cut])
        assert open_archive(clean).images


def test_open_archive_names_a_zip_file(tmp_path: Path) -> None:
    zipped = tmp_path / "image.zip"
    zipped.write_bytes(b"PK\x03\x04" + bytes(600))

    with pytest.raises(ArchiveError, match="zip file"):
        open_archive(zipped)


def _docker_archive(
    tmp_path: Path, layers: list[LayerBuilder], **config: object
) -> Path:
    spec = ImageSpec(layers=layers, tags=["acme/app:1"], architecture="arm64", **config)
    return write_archive(tmp_path / "app.tar", [spec], ArchiveFormat.DOCKER)


def test_read_filesystem_reports_what_docker_load_cannot_unpack(
    tmp_path: Path,
) -> None:
    long_name = "x" * 256
    layer = (
        LayerBuilder()
        .add_file("ok", b"ok")
        .add_hardlink("hl", "does/not/exist")
        .add_file(long_name, b"long")
    )
    archive = open_archive(_docker_archive(tmp_path, [layer]))
    read_filesystem(archive, archive.images[0])

    damage = " ".join(p.actual for p in archive.problems if p.what == "content")
    assert "hard link /hl points to missing /does/not/exist" in damage
    assert "longer than 255 bytes" in damage


def test_read_filesystem_reports_a_damaged_header_inside_a_layer(
    tmp_path: Path,
) -> None:
    layer = LayerBuilder()
    for number in range(6):
        layer.add_file(f"file{number}", bytes([65 + number]) * 700)
    path = _docker_archive(tmp_path, [layer])
    archive = open_archive(path)
    blob = archive.images[0].layers[0]
    data = bytearray(path.read_bytes())
    with tarfile.open(
        fileobj=io.BytesIO(data[blob.offset : blob.offset + blob.size])
    ) as tar:
        header = tar.getmember("file4").offset
    data[blob.offset + header : blob.offset + header + 512] = b"\x07" * 512
    path.write_bytes(bytes(data))

    filesystem = read_filesystem(archive, archive.images[0])

    damage = [p.actual for p in archive.problems if p.what == "content"]
    assert any("not a tar header" in d for d in damage)
    assert filesystem.get("/file3") is not None


@pytest.mark.parametrize("compressor", ["bz2", "xz"])
def test_read_filesystem_reads_bzip2_and_xz_layers(
    tmp_path: Path, compressor: str
) -> None:
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    packed = (bz2.compress if compressor == "bz2" else lzma.compress)(plain.getvalue())
    blob = tmp_path / "layer.blob"
    blob.write_bytes(packed)
    path = _docker_archive(tmp_path, [TarLayer(blob)])
    archive = open_archive(path)
    filesystem = read_filesystem(archive, archive.images[0])

    assert filesystem.get("/hello") is not None
    assert archive.problems == []


def _rewrite_json(path: Path, member: str, change: object) -> Path:
    """Copy a tarball, replacing one JSON member by *change*."""
    out = path.with_name(f"{path.stem}+{member.replace('/', '_')}.tar")
    with tarfile.open(path) as source, tarfile.open(out, "w") as target:
        for info in source.getmembers():
            data = source.extractfile(info).read() if info.isreg() else b""  # type: ignore[union-attr]
            if info.name == member:
                data = json.dumps(change).encode()
                info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["a", "b"], "manifest.json entry 0: it is not an object"),
        ([{"Config": 5}], "Config is not a string"),
        ([{"Config": "x.json", "Layers": "abc"}], "Layers is not a list of strings"),
        ([{"Config": "x.json", "RepoTags": [5]}], "RepoTags is not a list of strings"),
        ([{"Layers": []}], "names no Config"),
    ],
)
def test_open_archive_refuses_a_manifest_of_the_wrong_shape(
    tmp_path: Path, change: object, message: str
) -> None:
    path = _write(tmp_path, ArchiveFormat.DOCKER, Compression.NONE)

    with pytest.raises(ArchiveError, match=message):
        open_archive(_rewrite_json(path, "manifest.json", change))


def test_open_archive_refuses_a_config_docker_could_not_unmarshal(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, ArchiveFormat.DOCKER, Compression.NONE)
    manifest = json.loads(_read_member(path, "manifest.json"))
    config_name = manifest[0]["Config"]
    config = json.loads(_read_member(path, config_name))
    config["config"]["Cmd"] = [1, None]

    with pytest.raises(ArchiveError, match=r"config\.Cmd is not a list of strings"):
        open_archive(_rewrite_json(path, config_name, config))


def _read_member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


def test_open_archive_refuses_an_index_that_is_not_an_object_or_loops(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, ArchiveFormat.OCI, Compression.NONE)
    with pytest.raises(ArchiveError, match="the index is not an object"):
        open_archive(_rewrite_json(path, "index.json", []))

    index = json.loads(_read_member(path, "index.json"))
    loop = dict(
        index["manifests"][0], mediaType="application/vnd.oci.image.index.v1+json"
    )
    looping = {"schemaVersion": 2, "manifests": [loop]}
    looped = _rewrite_json(path, "index.json", looping)
    # The blob the descriptor names is a manifest, not an index: re-point it
    # at index.json's own content so the index refers to itself.
    digest = loop["digest"].split(":")[1]
    final = _rewrite_json(looped, f"blobs/sha256/{digest}", looping)
    with pytest.raises(ArchiveError, match=r"nest too deep|not a valid"):
        open_archive(final)
