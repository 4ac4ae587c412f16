"""Check 7: can the site's Docker load the tarball at all."""

from __future__ import annotations

from siteproof.archive.model import ArchiveFormat, BlobProblem, Compression
from support.preflight_samples import Preflight, TreeBuilder, codes, make_layer

BASH = ("/bin/bash", "-c", "true")


def test_check_loadability_rejects_oci_only_archive_before_docker_25(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    old = preflight(tree, image={"cmd": BASH}, archive={"format": ArchiveFormat.OCI})
    new = preflight(
        tree,
        image={"cmd": BASH},
        archive={"format": ArchiveFormat.OCI},
        site={"docker": "25.0"},
    )

    assert ("error", "archive-oci-only", None) in codes(old)
    assert "archive-oci-only" not in [f.code for f in new]


def test_check_loadability_accepts_docker_oci_archive_on_old_docker(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(
        tree,
        image={"cmd": BASH},
        archive={"format": ArchiveFormat.DOCKER_OCI},
        site={"docker": "18.09"},
    )

    assert "archive-oci-only" not in [f.code for f in findings]


def test_check_loadability_rejects_zstd_layer_before_docker_23(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    layers = (
        make_layer("blobs/sha256/aa"),
        make_layer("blobs/sha256/bb", Compression.ZSTD),
    )
    old = preflight(tree, image={"cmd": BASH, "layers": layers})
    new = preflight(
        tree, image={"cmd": BASH, "layers": layers}, site={"docker": "23.0"}
    )

    assert [c for c in codes(old) if c[1] == "layer-zstd"] == [
        ("error", "layer-zstd", "blobs/sha256/bb")
    ]
    assert "layer-zstd" not in [f.code for f in new]


def test_check_loadability_reports_each_corrupt_blob(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    problems = (
        BlobProblem("blobs/sha256/aa", "sha256:aa", "sha256:00", "blob digest"),
        BlobProblem("blobs/sha256/bb", "sha256:bb", "sha256:11", "diff_id"),
    )
    findings = preflight(tree, image={"cmd": BASH}, archive={"problems": problems})

    corrupt = [f for f in findings if f.code == "blob-corrupt"]
    assert [f.path for f in corrupt] == ["blobs/sha256/aa", "blobs/sha256/bb"]
    assert all(f.severity.name == "ERROR" for f in corrupt)
    assert "sha256:11" in corrupt[1].message


def test_check_loadability_warns_about_untagged_image(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    untagged = preflight(tree, image={"cmd": BASH, "tags": ()})
    tagged = preflight(tree, image={"cmd": BASH})

    assert ("warning", "image-untagged", None) in codes(untagged)
    assert "<none>:<none>" in untagged[-1].message or any(
        "<none>:<none>" in f.message for f in untagged
    )
    assert "image-untagged" not in [f.code for f in tagged]
