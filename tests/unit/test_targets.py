"""--target parsing and the lazy target registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from siteproof.errors import InputError
from siteproof.targets import TargetOptions, create_target, target_kind
from siteproof.targets.local import LocalTarget
from siteproof.targets.ssh import SshTarget, parse_ssh_url


def test_parse_ssh_url_defaults_to_root_on_port_22() -> None:
    host = parse_ssh_url("ssh://203.0.113.7")

    assert (host.user, host.address, host.port) == ("root", "203.0.113.7", 22)
    assert host.label == "root@203.0.113.7:22"


def test_parse_ssh_url_reads_user_and_port() -> None:
    host = parse_ssh_url("ssh://kylin@box.example:2222")

    assert (host.user, host.address, host.port) == ("kylin", "box.example", 2222)


@pytest.mark.parametrize(
    "spec",
    ["ssh://", "ssh://host:99999", "http://host", "ssh://u:pw@host", "ssh://h/x"],
)
def test_parse_ssh_url_rejects_bad_text(spec: str) -> None:
    with pytest.raises(InputError):
        parse_ssh_url(spec)


def test_create_target_picks_class_by_kind() -> None:
    options = TargetOptions()

    assert isinstance(create_target("local", options), LocalTarget)
    assert isinstance(create_target("ssh://root@198.51.100.9", options), SshTarget)
    assert target_kind("ssh://root@h:22") == "ssh"


def test_create_target_unknown_kind_is_input_error() -> None:
    with pytest.raises(InputError, match="unknown target ftp://x"):
        create_target("ftp://x", TargetOptions())


def test_ssh_target_shell_prefix_names_identity() -> None:
    target = create_target(
        "ssh://root@198.51.100.9:2200", TargetOptions(identity=Path("/k/id"))
    )

    assert target.host.shell_prefix() == "ssh -i /k/id -p 2200 root@198.51.100.9 "
