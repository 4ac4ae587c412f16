"""Signed stamps: a good one passes, every kind of tampering fails on its own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from siteproof import cli
from siteproof.archive.model import ArchiveFormat
from siteproof.archive.writer import ImageSpec, LayerBuilder, write_archive
from siteproof.errors import EXIT_FAILED, EXIT_INPUT, EXIT_OK, InputError
from siteproof.keys import (
    create_signing_key,
    find_signing_key,
    load_public_key,
    load_signing_key,
)
from siteproof.site import load_profile
from siteproof.stamp import (
    profile_sha256,
    sha256_file,
    stamp_path_for,
    write_stamp,
)

SITE = """
[site]
platform = "linux/arm64"
docker = "20.10"
page_size = "64k"

[run]
image = "acme/app:1"
ports = ["8080:8080"]
"""

REPORT = {
    "verdict": "pass",
    "reason": "",
    "target": "root@198.51.100.7:22",
    "run_id": "r-1234",
    "emulated": False,
    "image": {"name": "acme/app:1", "platform": "linux/arm64"},
    "checks": [
        {"name": "alive", "status": "pass", "detail": "up 5 s", "duration_s": 5.01},
        {"name": "http", "status": "pass", "detail": "200", "duration_s": 0.25},
    ],
    "findings": [],
    "host": {"architecture": "arm64", "kernel": "5.10.0", "page_size": 65536},
}


def _tarball(path: Path, text: bytes) -> Path:
    layer = LayerBuilder().add_file("app/hello.txt", text)
    spec = ImageSpec(layers=(layer,), tags=("acme/app:1",), architecture="arm64")
    return write_archive(path, [spec], ArchiveFormat.DOCKER)


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("SITEPROOF_CONFIG_DIR", str(folder))
    monkeypatch.setitem(cli._COMMANDS, "stamp", "siteproof.cli.stamp:stamp_group")
    monkeypatch.setitem(cli._COMMANDS, "key", "siteproof.cli.key:key_group")
    return folder


@pytest.fixture
def signed(tmp_path: Path, config_dir: Path) -> tuple[Path, Path, Path]:
    """Return (tarball, stamp, site file) of a good, signed stamp."""
    tarball = _tarball(tmp_path / "app.tar", b"hello\n")
    site = tmp_path / "site.toml"
    site.write_text(SITE)
    create_signing_key()
    stamp = write_stamp(
        tarball,
        sha256_file(tarball),
        REPORT,
        load_profile(str(site)),
        load_signing_key(),
    )
    return tarball, stamp, site


def _check(*args: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["stamp", "check", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_write_stamp_records_tarball_images_site_and_verdict(
    signed: tuple[Path, Path, Path],
) -> None:
    tarball, stamp, site = signed
    document = json.loads(stamp.read_text())
    assert stamp == stamp_path_for(tarball) == tarball.parent / "app.tar.stamp.json"
    assert document["tarball"]["sha256"] == sha256_file(tarball)
    assert document["images"][0]["tags"] == ["acme/app:1"]
    assert document["images"][0]["id"].startswith("sha256:")
    assert document["site"]["sha256"] == profile_sha256(load_profile(str(site)))
    assert document["site"]["profile"]["run"]["ports"] == ["8080:8080"]
    assert document["verification"]["verdict"] == "pass"
    assert document["verification"]["checks"][1]["name"] == "http"
    assert document["verification"]["host"]["page_size"] == 65536
    assert document["signature"]["key_id"] == load_public_key().key_id
    assert document["tool"]["name"] == "siteproof"


def test_stamp_check_passes_for_the_good_stamp(
    signed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tarball, _, site = signed
    code, output = _check(tarball, "--site", site, capsys=capsys)
    assert code == EXIT_OK
    assert output.startswith("OK    app.tar (sha256 ")
    assert "for site site on root@198.51.100.7:22" in output
    assert load_public_key().key_id in output


def test_stamp_check_fails_for_a_modified_tarball(
    signed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tarball, _, _ = signed
    with tarball.open("r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    code, output = _check(tarball, capsys=capsys)
    assert code == EXIT_FAILED
    assert "FAIL  app.tar was modified after verification" in output
    assert output.count("FAIL") == 1


def test_stamp_check_fails_for_a_stamp_of_another_tarball(
    signed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tarball, stamp, _ = signed
    other = _tarball(tarball.parent / "other.tar", b"another build\n")
    code, output = _check(other, "--stamp", stamp, capsys=capsys)
    assert code == EXIT_FAILED
    assert "the stamp is for another tarball, app.tar" in output
    assert "not for other.tar" in output
    assert output.count("FAIL") == 1


def test_stamp_check_fails_for_another_key(
    signed: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tarball, _, _ = signed
    other = create_signing_key(tmp_path / "other-team")
    code, output = _check(tarball, "--key", other, capsys=capsys)
    assert code == EXIT_FAILED
    assert "the stamp is signed by another key" in output
    assert load_public_key(other).key_id in output
    assert output.count("FAIL") == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (("verification", "target"), "root@198.51.100.99:22"),
        (("site", "name"), "another-site"),
        (("created", None), "2020-01-01T00:00:00+00:00"),
    ],
)
def test_stamp_check_fails_for_an_edited_stamp(
    signed: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    field: tuple[str, str | None],
    value: str,
) -> None:
    tarball, stamp, _ = signed
    document = json.loads(stamp.read_text())
    if field[1] is None:
        document[field[0]] = value
    else:
        document[field[0]][field[1]] = value
    stamp.write_text(json.dumps(document, indent=2))
    code, output = _check(tarball, capsys=capsys)
    assert code == EXIT_FAILED
    assert "FAIL  the stamp was changed after it was signed" in output
    assert output.count("FAIL") == 1


def test_stamp_check_fails_for_an_edited_sha256_twice(
    signed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tarball, stamp, _ = signed
    document = json.loads(stamp.read_text())
    document["tarball"]["sha256"] = "0" * 64
    stamp.write_text(json.dumps(document))
    code, output = _check(tarball, capsys=capsys)
    assert code == EXIT_FAILED
    assert "changed after it was signed" in output
    assert "app.tar was modified after verification" in output


def test_stamp_check_fails_for_another_site(
    signed: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tarball, _, _ = signed
    site = tmp_path / "other-site.toml"
    site.write_text(SITE.replace("64k", "4k"))
    code, output = _check(tarball, "--site", site, capsys=capsys)
    assert code == EXIT_FAILED
    assert "the stamp is for site site" in output
    assert "not for other-site (profile sha256" in output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not readable JSON"),
        ('{"format": "something else"}', "is not a siteproof stamp"),
        ('{"format": "siteproof-stamp/1", "tarball": {}}', "[tarball] lacks name"),
    ],
)
def test_stamp_check_rejects_bad_stamp_files_with_exit_2(
    signed: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    tarball, _, _ = signed
    bad = tmp_path / "bad.stamp.json"
    if content is not None:
        bad.write_text(content)
    code, output = _check(tarball, "--stamp", bad, capsys=capsys)
    assert code == EXIT_INPUT
    assert message in output
    assert len(output.strip().splitlines()) == 1
    assert "Traceback" not in output


def test_stamp_check_rejects_missing_tarball_and_key_with_exit_2(
    signed: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tarball, stamp, _ = signed
    code, output = _check(tmp_path / "gone.tar", "--stamp", stamp, capsys=capsys)
    assert code == EXIT_INPUT
    assert "gone.tar does not exist" in output
    code, output = _check(tarball, "--key", tmp_path / "nokey.pub", capsys=capsys)
    assert code == EXIT_INPUT
    assert "nokey.pub does not exist" in output
    not_a_key = tmp_path / "bad.pub"
    not_a_key.write_text("ssh-rsa AAAAB3Nza foo\n")
    code, output = _check(tarball, "--key", not_a_key, capsys=capsys)
    assert code == EXIT_INPUT
    assert "is not an ssh-ed25519 public key" in output


def test_write_stamp_refuses_a_failed_report(
    signed: tuple[Path, Path, Path],
) -> None:
    tarball, _, site = signed
    with pytest.raises(InputError, match="did not pass verification"):
        write_stamp(
            tarball,
            sha256_file(tarball),
            {**REPORT, "verdict": "fail"},
            load_profile(str(site)),
            load_signing_key(),
        )


def test_key_init_creates_a_private_key_only_the_user_reads(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert find_signing_key() is None
    assert cli.main(["key", "init"]) == EXIT_OK
    private = config_dir / "signing-key"
    assert private.stat().st_mode & 0o777 == 0o600
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(config_dir / "signing-key.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert fingerprint == load_public_key().key_id
    assert fingerprint in capsys.readouterr().out
    assert cli.main(["key", "init"]) == EXIT_INPUT
    assert "a signing key exists already" in capsys.readouterr().err
    assert cli.main(["key", "show"]) == EXIT_OK
    shown = capsys.readouterr().out.splitlines()
    assert shown == [load_public_key().openssh, fingerprint]


def test_key_show_without_a_key_says_how_to_create_one(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["key", "show"]) == EXIT_INPUT
    error = capsys.readouterr().err
    assert "does not exist" in error
    assert "siteproof key init" in error
