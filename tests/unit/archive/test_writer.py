"""The archive writer: each layout read back with tarfile/json, skopeo and Docker."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import zstandard

from siteproof.archive.model import ArchiveFormat, Compression
from siteproof.archive.writer import (
    BlobLayer,
    ImageSpec,
    IndexSpec,
    LayerBuilder,
    TarLayer,
    read_images,
    rewrite_archive,
    write_archive,
)
from siteproof.errors import ArchiveError
from support import images

TAG = "siteproof-test/writer:1"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _json(files: dict[str, bytes], name: str) -> Any:
    return json.loads(files[name])


def _blob(files: dict[str, bytes], digest: str) -> bytes:
    return files["blobs/" + digest.replace(":", "/")]


def _uncompressed(blob: bytes) -> bytes:
    if blob.startswith(b"\x1f\x8b"):
        return gzip.decompress(blob)
    if blob.startswith(b"\x28\xb5\x2f\xfd"):
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(blob), read_across_frames=True
        )
        return reader.read()
    return blob


def _layer_tar(blob: bytes) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(blob))


def _two_layer_spec(**changes: Any) -> ImageSpec:
    base = (
        LayerBuilder()
        .add_dir("app")
        .add_file("app/start.sh", b"#!/bin/sh\necho hi\n", mode=0o755, uid=1000)
        .add_symlink("app/link", "/app/start.sh")
        .add_hardlink("app/hard", "app/start.sh")
    )
    top = LayerBuilder().add_whiteout("app/link").add_opaque("etc")
    spec = ImageSpec(
        layers=(base, top),
        tags=(TAG,),
        architecture="arm64",
        variant="v8",
        entrypoint=("/app/start.sh",),
        cmd=("--serve",),
        env=("PATH=/bin", "A=1"),
        working_dir="/app",
        user="1000:1000",
        exposed_ports=("8080/tcp",),
        healthcheck=("CMD", "/app/start.sh"),
        labels={"k": "v"},
    )
    return dataclasses.replace(spec, **changes)


def _config_of_docker(files: dict[str, bytes], entry: dict[str, Any]) -> Any:
    config = files[entry["Config"]]
    assert entry["Config"].removeprefix("blobs/sha256/").removesuffix(".json") == (
        hashlib.sha256(config).hexdigest()
    )
    return json.loads(config)


def test_write_archive_docker_layout_is_consistent(tmp_path: Path) -> None:
    files = _members(
        write_archive(tmp_path / "a.tar", [_two_layer_spec()], ArchiveFormat.DOCKER)
    )

    (entry,) = _json(files, "manifest.json")
    config = _config_of_docker(files, entry)
    layers = [files[name] for name in entry["Layers"]]
    assert entry["RepoTags"] == [TAG]
    assert config["rootfs"]["diff_ids"] == [_sha(layer) for layer in layers]
    top_id = entry["Layers"][-1].split("/")[0]
    assert _json(files, "repositories") == {"siteproof-test/writer": {"1": top_id}}
    assert files[f"{top_id}/VERSION"] == b"1.0"
    assert "oci-layout" not in files


def test_write_archive_config_carries_every_field(tmp_path: Path) -> None:
    files = _members(
        write_archive(tmp_path / "a.tar", [_two_layer_spec()], ArchiveFormat.DOCKER)
    )

    config = _config_of_docker(files, _json(files, "manifest.json")[0])
    assert (config["os"], config["architecture"], config["variant"]) == (
        "linux",
        "arm64",
        "v8",
    )
    assert config["config"] == {
        "Entrypoint": ["/app/start.sh"],
        "Cmd": ["--serve"],
        "Env": ["PATH=/bin", "A=1"],
        "WorkingDir": "/app",
        "User": "1000:1000",
        "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"k": "v"},
        "Healthcheck": {"Test": ["CMD", "/app/start.sh"]},
    }
    assert len(config["history"]) == 2


@pytest.mark.parametrize("fmt", [ArchiveFormat.DOCKER_OCI, ArchiveFormat.OCI])
def test_write_archive_oci_blobs_match_their_digests(
    tmp_path: Path, fmt: ArchiveFormat
) -> None:
    files = _members(
        write_archive(
            tmp_path / "a.tar", [_two_layer_spec()], fmt, compression=Compression.GZIP
        )
    )

    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert name.rsplit("/", 1)[1] == hashlib.sha256(data).hexdigest()
    (descriptor,) = _json(files, "index.json")["manifests"]
    manifest = json.loads(_blob(files, descriptor["digest"]))
    config = json.loads(_blob(files, manifest["config"]["digest"]))
    blobs = [_blob(files, layer["digest"]) for layer in manifest["layers"]]
    assert config["rootfs"]["diff_ids"] == [_sha(_uncompressed(b)) for b in blobs]
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    }
    assert _json(files, "oci-layout") == {"imageLayoutVersion": "1.0.0"}
    assert ("manifest.json" in files) is (fmt is ArchiveFormat.DOCKER_OCI)


def test_write_archive_docker_oci_names_tags_like_docker_25(tmp_path: Path) -> None:
    files = _members(
        write_archive(tmp_path / "a.tar", [_two_layer_spec()], ArchiveFormat.DOCKER_OCI)
    )

    (descriptor,) = _json(files, "index.json")["manifests"]
    assert descriptor["annotations"] == {
        "io.containerd.image.name": "docker.io/siteproof-test/writer:1",
        "org.opencontainers.image.ref.name": "1",
    }
    (entry,) = _json(files, "manifest.json")
    assert entry["RepoTags"] == [TAG]
    assert all(name.startswith("blobs/sha256/") for name in entry["Layers"])


def test_layer_builder_writes_every_entry_kind(tmp_path: Path) -> None:
    files = _members(
        write_archive(tmp_path / "a.tar", [_two_layer_spec()], ArchiveFormat.DOCKER)
    )

    entry = _json(files, "manifest.json")[0]
    base, top = (_layer_tar(files[name]) for name in entry["Layers"])
    start = base.getmember("app/start.sh")
    assert (start.mode, start.uid, start.isfile()) == (0o755, 1000, True)
    assert base.getmember("app/link").linkname == "/app/start.sh"
    assert base.getmember("app/hard").islnk()
    assert base.getmember("app").isdir()
    assert top.getnames() == ["app/.wh.link", "etc/.wh..wh..opq"]


def test_layer_builder_refuses_a_duplicate_path() -> None:
    layer = LayerBuilder().add_file("a", b"1")

    with pytest.raises(ValueError, match="already in this layer"):
        layer.add_symlink("/a", "b")


@pytest.mark.parametrize(
    ("compression", "magic"),
    [
        (Compression.NONE, b"app/"),
        (Compression.GZIP, b"\x1f\x8b"),
        (Compression.ZSTD, b"\x28\xb5\x2f\xfd"),
    ],
)
def test_write_archive_compresses_layers(
    tmp_path: Path, compression: Compression, magic: bytes
) -> None:
    files = _members(
        write_archive(
            tmp_path / "a.tar",
            [_two_layer_spec()],
            ArchiveFormat.OCI,
            compression=compression,
        )
    )

    manifest = json.loads(
        _blob(files, _json(files, "index.json")["manifests"][0]["digest"])
    )
    blob = _blob(files, manifest["layers"][0]["digest"])
    assert blob.startswith(magic)
    suffix = {"none": "", "gzip": "+gzip", "zstd": "+zstd"}[compression.value]
    assert manifest["layers"][0]["mediaType"].endswith("layer.v1.tar" + suffix)


def test_write_archive_corrupt_layer_breaks_only_the_digest(tmp_path: Path) -> None:
    spec = _two_layer_spec(corrupt_layers=frozenset({0}))
    files = _members(
        write_archive(
            tmp_path / "a.tar",
            [spec],
            ArchiveFormat.DOCKER_OCI,
            compression=Compression.GZIP,
        )
    )

    manifest = json.loads(
        _blob(files, _json(files, "index.json")["manifests"][0]["digest"])
    )
    config = json.loads(_blob(files, manifest["config"]["digest"]))
    bad, good = (layer["digest"] for layer in manifest["layers"])
    assert _sha(_blob(files, bad)) != bad
    assert _sha(_blob(files, good)) == good
    assert _sha(_uncompressed(_blob(files, bad))) == config["rootfs"]["diff_ids"][0]


def test_write_archive_wrong_diff_id_is_recorded(tmp_path: Path) -> None:
    spec = _two_layer_spec(wrong_diff_ids=frozenset({1}))
    files = _members(write_archive(tmp_path / "a.tar", [spec], ArchiveFormat.DOCKER))

    entry = _json(files, "manifest.json")[0]
    diff_ids = _config_of_docker(files, entry)["rootfs"]["diff_ids"]
    actual = [_sha(files[name]) for name in entry["Layers"]]
    assert diff_ids[0] == actual[0]
    assert diff_ids[1] != actual[1]


def test_write_archive_shares_layers_and_keeps_untagged_images(tmp_path: Path) -> None:
    base = LayerBuilder().add_file("f", b"base")
    specs = [
        ImageSpec(layers=(base,), tags=(TAG,)),
        ImageSpec(layers=(base,), cmd=("x",)),
    ]
    files = _members(write_archive(tmp_path / "a.tar", specs, ArchiveFormat.DOCKER_OCI))

    tagged, untagged = _json(files, "manifest.json")
    assert tagged["Layers"] == untagged["Layers"]
    assert untagged["RepoTags"] is None
    assert (
        sum(name.startswith("blobs/") for name in files) == 5
    )  # layer, 2x config+manifest
    assert "annotations" not in _json(files, "index.json")["manifests"][1]


def test_write_archive_nested_index_lists_each_platform(tmp_path: Path) -> None:
    layer = LayerBuilder().add_file("f", b"x")
    index = IndexSpec(
        images=[ImageSpec(layers=(layer,), architecture=a) for a in ("arm64", "s390x")],
        tags=(TAG,),
    )
    files = _members(write_archive(tmp_path / "a.tar", [index], ArchiveFormat.OCI))

    (outer,) = _json(files, "index.json")["manifests"]
    assert outer["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert outer["annotations"]["org.opencontainers.image.ref.name"] == TAG
    inner = json.loads(_blob(files, outer["digest"]))
    assert [m["platform"]["architecture"] for m in inner["manifests"]] == [
        "arm64",
        "s390x",
    ]


def test_write_archive_rejects_an_index_in_a_docker_layout(tmp_path: Path) -> None:
    index = IndexSpec(images=[ImageSpec(layers=())])

    with pytest.raises(ArchiveError, match="needs the OCI layout"):
        write_archive(tmp_path / "a.tar", [index], ArchiveFormat.DOCKER)
    assert not (tmp_path / "a.tar").exists()


def test_tar_layer_streams_a_compressed_rootfs(tmp_path: Path) -> None:
    plain = tmp_path / "root.tar"
    with plain.open("wb") as sink:
        LayerBuilder().add_dir("etc").add_file("etc/os", b"x").write_blob(
            sink, Compression.NONE
        )
    packed = tmp_path / "root.tar.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    spec = ImageSpec(layers=(TarLayer(packed),))
    files = _members(
        write_archive(
            tmp_path / "a.tar",
            [spec],
            ArchiveFormat.DOCKER,
            compression=Compression.GZIP,
        )
    )

    entry = _json(files, "manifest.json")[0]
    layer = files[entry["Layers"][0]]
    assert gzip.decompress(layer) == plain.read_bytes()
    assert _config_of_docker(files, entry)["rootfs"]["diff_ids"] == [
        _sha(plain.read_bytes())
    ]


@pytest.mark.parametrize("fmt", list(ArchiveFormat))
def test_rewrite_archive_changes_the_architecture_only(
    tmp_path: Path, fmt: ArchiveFormat
) -> None:
    source = write_archive(
        tmp_path / "a.tar",
        [_two_layer_spec(architecture="amd64")],
        fmt,
        compression=Compression.ZSTD,
    )
    target = rewrite_archive(
        source, tmp_path / "b.tar", ArchiveFormat.DOCKER_OCI, architecture="arm64"
    )

    before, after = read_images(source)[0], read_images(target)[0]
    source_files, target_files = _members(source), _members(target)
    moved = [lay.layer.blob for lay in before.layers if isinstance(lay, BlobLayer)]
    copied = _json(target_files, "manifest.json")[0]["Layers"]
    assert after.architecture == "arm64"
    assert after.entrypoint == before.entrypoint
    assert after.base_config["rootfs"] == before.base_config["rootfs"]
    assert [source_files[n] for n in moved] == [target_files[n] for n in copied]


def test_rewrite_archive_can_replace_its_source(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "a.tar", [_two_layer_spec()], ArchiveFormat.DOCKER)

    rewrite_archive(path, path, ArchiveFormat.DOCKER, user="app")

    assert read_images(path)[0].user == "app"
    assert [p.name for p in tmp_path.iterdir()] == ["a.tar"]


def test_read_images_rejects_a_tarball_that_is_no_image(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w") as tar:
        tar.addfile(tarfile.TarInfo("hello"), io.BytesIO(b""))

    with pytest.raises(ArchiveError, match=r"x.tar holds no image"):
        read_images(path)


# Independent readers: skopeo and the Docker engine.


def _skopeo(*args: str) -> Any:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    result = subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("fmt", "transport"),
    [
        (ArchiveFormat.DOCKER, "docker-archive"),
        (ArchiveFormat.DOCKER_OCI, "oci-archive"),
        (ArchiveFormat.OCI, "oci-archive"),
    ],
)
def test_write_archive_is_read_by_skopeo(
    tmp_path: Path, fmt: ArchiveFormat, transport: str
) -> None:
    path = write_archive(
        tmp_path / "a.tar", [_two_layer_spec()], fmt, compression=Compression.GZIP
    )

    config = _skopeo("inspect", "--config", f"{transport}:{path}")
    assert config["architecture"] == "arm64"
    assert config["config"]["Entrypoint"] == ["/app/start.sh"]
    assert len(config["rootfs"]["diff_ids"]) == 2


def test_skopeo_reads_the_zstd_and_multi_platform_images() -> None:
    zstd = _skopeo("inspect", "--raw", f"oci-archive:{images.httpd_arm64_zstd()}")
    arches = {
        arch: _skopeo(
            "inspect",
            "--override-arch",
            arch,
            "--config",
            f"oci-archive:{images.multi_platform_oci()}",
        )["architecture"]
        for arch in ("arm64", "s390x")
    }

    assert zstd["layers"][0]["mediaType"].endswith("+zstd")
    assert arches == {"arm64": "arm64", "s390x": "s390x"}


@pytest.mark.docker
@pytest.mark.parametrize("fmt", [ArchiveFormat.DOCKER, ArchiveFormat.DOCKER_OCI])
def test_write_archive_is_loaded_by_docker(
    tmp_path: Path, fmt: ArchiveFormat, docker_engine: None
) -> None:
    tag = f"siteproof-test/writer-{uuid.uuid4().hex[:12]}:1"
    spec = images.busybox_spec("arm64", tags=[tag])
    path = write_archive(tmp_path / "a.tar", [spec], fmt, compression=Compression.GZIP)

    with images.loaded_image(path) as refs:
        arch = images.docker("image", "inspect", "--format", "{{.Architecture}}", tag)
        output = images.docker(
            "run", "--rm", "--pull", "never", tag, "cat", "/www/index.html"
        )
    assert refs == [tag]
    assert arch == "arm64"
    assert output.encode() + b"\n" == images.INDEX_HTML


def _get(url: str, within_s: float) -> bytes:
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.docker
def test_httpd_arm64_docker_save_serves_http(httpd_arm64_docker_save_tar: Path) -> None:
    files = _members(httpd_arm64_docker_save_tar)
    config = _config_of_docker(files, _json(files, "manifest.json")[0])

    with (
        images.loaded_image(httpd_arm64_docker_save_tar) as refs,
        images.running_container(refs[0], images.HTTPD_PORT) as url,
    ):
        body = _get(url + "/", within_s=20)
        machine = images.docker(
            "run", "--rm", "--pull", "never", refs[0], "uname", "-m"
        )
    assert config["architecture"] == "arm64"
    assert body == images.INDEX_HTML
    assert machine == "aarch64"


@pytest.mark.docker
def test_s390x_image_fails_with_exec_format_error(
    bad_s390x_tar: Path, docker_engine: None
) -> None:
    with images.loaded_image(bad_s390x_tar) as refs:
        result = subprocess.run(
            ["docker", "run", "--rm", "--pull", "never", refs[0]],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode != 0
    assert "exec format error" in result.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_python_app_arm64_serves_http(
    python_app_arm64_tar: Path, docker_engine: None
) -> None:
    with (
        images.loaded_image(python_app_arm64_tar) as refs,
        images.running_container(refs[0], images.PYTHON_PORT) as url,
    ):
        body = _get(url + "/", within_s=60)

    assert body == b"<html>siteproof python app</html>\n"
