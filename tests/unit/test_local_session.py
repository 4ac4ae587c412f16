"""LocalSession: the Session protocol on this machine."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from siteproof.errors import InfraError
from siteproof.remote.local import LocalSession


@pytest.fixture
def payload(tmp_path: Path) -> tuple[Path, str]:
    source = tmp_path / "app.tar"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return source, hashlib.sha256(source.read_bytes()).hexdigest()


def test_local_run_quotes_argv_and_captures_output() -> None:
    result = LocalSession().run(["printf", "%s|", "a b", "$HOME"])

    assert result.succeeded
    assert result.stdout == "a b|$HOME|"


def test_local_run_timeout_is_infra_error() -> None:
    with pytest.raises(InfraError, match="did not finish within"):
        LocalSession().run("sleep 5", timeout_s=0.2)


def test_local_upload_resumes_partial_copy(
    payload: tuple[Path, str], tmp_path: Path
) -> None:
    source, digest = payload
    target = tmp_path / "host" / "app.tar"
    target.parent.mkdir()
    target.write_bytes(source.read_bytes()[: 1024 * 1024])
    seen: list[tuple[int, int]] = []

    LocalSession().upload(
        source, str(target), sha256=digest, progress=lambda d, t: seen.append((d, t))
    )

    assert target.read_bytes() == source.read_bytes()
    assert seen[0][0] > 1024 * 1024
    assert seen[-1] == (source.stat().st_size, source.stat().st_size)


def test_local_upload_recopies_a_corrupt_partial(
    payload: tuple[Path, str], tmp_path: Path
) -> None:
    source, digest = payload
    target = tmp_path / "copy.tar"
    target.write_bytes(b"garbage")

    LocalSession().upload(source, str(target), sha256=digest)

    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest


def test_local_upload_wrong_checksum_removes_file(
    payload: tuple[Path, str], tmp_path: Path
) -> None:
    source, _ = payload
    target = tmp_path / "copy.tar"

    with pytest.raises(InfraError, match="sha256"):
        LocalSession().upload(source, str(target), sha256="0" * 64)
    assert not target.exists()


def test_local_forward_port_is_the_port_itself() -> None:
    with LocalSession().forward_port(8080) as port:
        assert port == 8080
    with pytest.raises(InfraError), LocalSession().forward_port(80, "10.0.0.1"):
        pass


def test_local_upload_refuses_to_copy_a_file_onto_itself(
    payload: tuple[Path, str],
) -> None:
    source, digest = payload

    with pytest.raises(InfraError, match="itself"):
        LocalSession().upload(source, str(source), sha256=digest)
    assert source.stat().st_size == 3 * 1024 * 1024 + 17
