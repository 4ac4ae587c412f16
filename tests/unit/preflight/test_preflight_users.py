"""Check 8: the user the container runs as."""

from __future__ import annotations

import pytest

from siteproof.preflight.users import UserIds, resolve_user
from support.preflight_samples import Preflight, TreeBuilder, codes

BASH = ("/bin/bash", "-c", "true")


def test_check_user_rejects_name_missing_from_passwd(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={"cmd": BASH, "user": "web"})

    assert ("error", "user-unknown", "/etc/passwd") in codes(findings)
    unknown = next(f for f in findings if f.code == "user-unknown")
    assert "unable to find user web: no matching entries in passwd file" in (
        unknown.message
    )


def test_check_user_rejects_named_user_without_passwd_file(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    tree.remove("/etc/passwd")

    findings = preflight(tree, image={"cmd": BASH, "user": "app"})

    assert "user-unknown" in [f.code for f in findings]


def test_check_user_site_user_overrides_image_user(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={"cmd": BASH, "user": "app"}, site={"user": "x"})

    assert "unable to find user x:" in " ".join(f.message for f in findings)


def test_check_user_rejects_group_missing_from_group_file(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    findings = preflight(tree, image={"cmd": BASH, "user": "app:wheel"})

    assert ("error", "group-unknown", "/etc/group") in codes(findings)


def test_check_user_accepts_known_and_numeric_users(
    tree: TreeBuilder, preflight: Preflight
) -> None:
    for user in ("app", "1000", "4242", "app:staff", "4242:4242", "root:0"):
        findings = preflight(tree, image={"cmd": BASH, "user": user})
        assert not [f for f in findings if f.code.endswith("-unknown")], user


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", UserIds(0, 0)),
        ("app", UserIds(1000, 1000, frozenset({50}))),
        ("1000", UserIds(1000, 1000, frozenset({50}))),
        ("4242", UserIds(4242, 0)),
        ("app:staff", UserIds(1000, 50, frozenset({50}))),
        ("4242:7", UserIds(4242, 7)),
    ],
)
def test_resolve_user_finds_ids_and_supplementary_groups(
    tree: TreeBuilder, spec: str, expected: UserIds
) -> None:
    ids, findings = resolve_user(tree.fs(), spec)

    assert findings == []
    assert ids == expected
