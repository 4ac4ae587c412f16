"""Host facts from one script, and the disk-space refusal."""

from __future__ import annotations

import pytest

from siteproof.errors import InfraError
from siteproof.hostfacts import HostFacts, check_disk_space, gather_host_facts
from siteproof.remote.local import LocalSession

GiB = 1024**3


def _facts(**changes: object) -> HostFacts:
    base = {
        "architecture": "arm64", "machine": "aarch64", "kernel": "4.19.90",
        "page_size": 65536, "cgroup": "v1", "selinux": "disabled",
        "cpu_model": "Kunpeng-920", "cpu_flags": ("fp", "asimd"), "qemu": (),
        "docker_server": "20.10.24", "docker_client": "20.10.24",
        "storage_driver": "overlay2", "docker_root": "/var/lib/docker",
        "docker_free_bytes": 10 * GiB, "upload_free_bytes": 10 * GiB,
        "same_disk": True, "is_root": True,
    }  # fmt: skip
    return HostFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_check_disk_space_counts_tarball_and_layers_on_one_disk() -> None:
    facts = _facts(docker_free_bytes=3 * GiB, upload_free_bytes=3 * GiB)

    check_disk_space(facts, tarball_bytes=1 * GiB, layer_bytes=1 * GiB)
    with pytest.raises(InfraError, match=r"disk has 3.0 GiB free, the image needs 4.0"):
        check_disk_space(facts, tarball_bytes=2 * GiB, layer_bytes=2 * GiB)


def test_check_disk_space_names_the_small_folder_on_separate_disks() -> None:
    facts = _facts(same_disk=False, upload_free_bytes=GiB // 2)

    with pytest.raises(InfraError, match="upload folder"):
        check_disk_space(facts, tarball_bytes=GiB, layer_bytes=GiB)


def test_can_run_knows_native_and_qemu_architectures() -> None:
    facts = _facts(architecture="amd64", machine="x86_64", qemu=("arm64",))

    assert facts.can_run("x86_64")
    assert facts.can_run("arm64")
    assert not facts.can_run("s390x")


def test_gather_host_facts_refuses_a_host_without_docker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(InfraError, match="has no docker command"):
        gather_host_facts(LocalSession(), upload_dir="/var/tmp/siteproof")
