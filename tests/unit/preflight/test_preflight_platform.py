"""Check 1: the image config's platform against the site's."""

from __future__ import annotations

from support.preflight_samples import Preflight, TreeBuilder, codes

BASH = ("/bin/bash", "-c", "true")


def test_check_platform_flags_amd64_label_on_arm64_site(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={"architecture": "amd64", "cmd": BASH})

    assert ("error", "platform-mismatch", None) in codes(findings)
    mismatch = next(f for f in findings if f.code == "platform-mismatch")
    assert "linux/amd64" in mismatch.message
    assert "linux/arm64" in mismatch.message


def test_check_platform_flags_wrong_variant(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(
        tree,
        image={"architecture": "arm", "variant": "v6", "cmd": BASH},
        site={"platform": "linux/arm/v7"},
    )

    assert "platform-mismatch" in [f.code for f in findings]


def test_check_platform_accepts_aarch64_spelling_and_default_variant(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(
        tree, image={"architecture": "aarch64", "variant": "v8", "cmd": BASH}
    )

    assert not [f for f in findings if f.code.startswith("platform")]


def test_check_platform_warns_when_architecture_is_missing(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={"architecture": "", "cmd": BASH})

    assert ("warning", "platform-missing", None) in codes(findings)
