"""The delivery bundle: parts, sums, install.sh and the guide, without a host."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from siteproof import cli
from siteproof.bundle import parse_size, write_bundle
from siteproof.errors import EXIT_INPUT, EXIT_OK, InputError
from siteproof.keys import create_signing_key, load_signing_key
from siteproof.site import SiteProfile, load_profile, parse_profile
from siteproof.stamp import sha256_file, write_stamp
from support.delivery import tiny_tarball

SITE = {
    "site": {"platform": "linux/arm64", "docker": "20.10", "page_size": "64k"},
    "run": {
        "image": "acme/app:1",
        "ports": ["8080:8080"],
        "env": {"TZ": "Asia/Shanghai", "MOTTO": "it's $HOME"},
        "restart": "always",
    },
}


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    return tiny_tarball(tmp_path / "app.tar", b"x" * 20_000)


def _profile(docker: str = "20.10") -> SiteProfile:
    document = {**SITE, "site": {**SITE["site"], "docker": docker}}
    return parse_profile(document, source="site.toml", name="site")


def _install_run_line(folder: Path) -> list[str]:
    script = (folder / "install.sh").read_text()
    body = script.split("run_container() {\n", 1)[1].split("\n}", 1)[0]
    return shlex.split(body)


def test_parse_size_reads_binary_units() -> None:
    assert parse_size("4GiB") == 4 * 1024**3
    assert parse_size("4G") == 4 * 1024**3
    assert parse_size("700MiB") == 700 * 1024**2
    assert parse_size("64k") == 65536
    assert parse_size("1000") == 1000
    with pytest.raises(InputError, match="is not a size"):
        parse_size("four gigs")


def test_write_bundle_splits_into_parts_under_the_part_size(
    tarball: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(tarball, tmp_path / "out", _profile(), part_size=8192)
    sizes = [(bundle.folder / part).stat().st_size for part in bundle.parts]
    assert len(sizes) == -(-tarball.stat().st_size // 8191) >= 3
    assert max(sizes) == 8191
    assert bundle.parts[0] == "app.tar.part001"
    assert not (bundle.folder / "app.tar").exists()
    joined = subprocess.run(
        f"cat {' '.join(bundle.parts)} | sha256sum",
        shell=True,
        cwd=bundle.folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert joined == bundle.sha256 == sha256_file(tarball)


def test_write_bundle_sums_check_with_sha256sum(tarball: Path, tmp_path: Path) -> None:
    bundle = write_bundle(tarball, tmp_path / "out", _profile(), part_size=8192)
    listed = (bundle.folder / "SHA256SUMS").read_text().splitlines()
    names = sorted(line.split("  ", 1)[1] for line in listed)
    assert names == sorted(["README.txt", "install.sh", *bundle.parts])
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=bundle.folder,
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0
    with (bundle.folder / bundle.parts[1]).open("r+b") as part:
        part.write(b"?")
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=bundle.folder,
        capture_output=True,
        check=False,
    )
    assert check.returncode != 0


def test_write_bundle_keeps_a_small_tarball_whole(
    tarball: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(tarball, tmp_path / "out", _profile())
    assert bundle.parts == ()
    assert sha256_file(bundle.folder / "app.tar") == sha256_file(tarball)
    assert "\nPARTS=''\n" in (bundle.folder / "install.sh").read_text()


def test_install_script_runs_the_sites_docker_run(
    tarball: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(tarball, tmp_path / "out", _profile(), part_size=8192)
    assert _install_run_line(bundle.folder) == [
        "docker", "run", "-d", "--pull", "never", "--name", "app",
        "-p", "8080:8080", "-e", "TZ=Asia/Shanghai", "-e", "MOTTO=it's $HOME",
        "--restart", "always", "acme/app:1",
    ]  # fmt: skip
    script = bundle.folder / "install.sh"
    assert script.stat().st_mode & 0o111
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    assert f"TARBALL_SHA256={bundle.sha256}\n" in script.read_text()


def test_install_script_leaves_out_pull_for_docker_before_20_10(
    tarball: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(tarball, tmp_path / "out", _profile("18.09"))
    argv = _install_run_line(bundle.folder)
    assert "--pull" not in argv
    assert argv[:5] == ["docker", "run", "-d", "--name", "app"]


def test_guide_names_the_joining_commands_and_the_hash(
    tarball: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(tarball, tmp_path / "out", _profile(), part_size=8192)
    guide = (bundle.folder / "README.txt").read_text()
    assert f"cat {' '.join(bundle.parts)} > app.tar" in guide
    assert f"copy /b {'+'.join(bundle.parts)} app.tar" in guide
    assert "certutil -hashfile app.tar SHA256" in guide
    assert bundle.sha256 in guide
    assert "docker load -i app.tar" in guide


def test_write_bundle_includes_the_stamp_next_to_the_tarball(
    tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEPROOF_CONFIG_DIR", str(tmp_path / "config"))
    create_signing_key()
    profile = _profile()
    stamp = write_stamp(
        tarball, sha256_file(tarball), {"verdict": "pass"}, profile, load_signing_key()
    )
    bundle = write_bundle(tarball, tmp_path / "out", profile)
    assert bundle.stamp == "app.tar.stamp.json"
    assert (bundle.folder / bundle.stamp).read_bytes() == stamp.read_bytes()
    assert bundle.stamp in (bundle.folder / "SHA256SUMS").read_text()


def test_write_bundle_picks_the_sites_stamp_and_refuses_another_sites(
    tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEPROOF_CONFIG_DIR", str(tmp_path / "config"))
    create_signing_key()
    key = load_signing_key()
    sha256 = sha256_file(tarball)
    kunpeng = parse_profile(SITE, source="kunpeng.toml", name="kunpeng")
    phytium = _profile("18.09")
    per_site = tarball.with_name("app.tar.kunpeng.stamp.json")
    write_stamp(tarball, sha256, {"verdict": "pass"}, kunpeng, key, path=per_site)

    bundle = write_bundle(tarball, tmp_path / "kunpeng", kunpeng)
    assert (bundle.folder / bundle.stamp).read_bytes() == per_site.read_bytes()
    per_site.unlink()
    write_stamp(tarball, sha256, {"verdict": "pass"}, kunpeng, key)
    with pytest.raises(InputError, match="made for site kunpeng, not for site"):
        write_bundle(tarball, tmp_path / "phytium", phytium)
    assert not (tmp_path / "phytium").exists()


def test_bundle_command_rejects_a_stamp_of_another_tarball(
    tarball: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SITEPROOF_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setitem(cli._COMMANDS, "bundle", "siteproof.cli.bundle:bundle_command")
    create_signing_key()
    other = tiny_tarball(tmp_path / "other.tar", b"other")
    site = tmp_path / "site.toml"
    site.write_text('[site]\nplatform = "linux/arm64"\ndocker = "20.10"\n')
    site.write_text(site.read_text() + 'page_size = "4k"\n')
    stamp = write_stamp(
        other,
        sha256_file(other),
        {"verdict": "pass"},
        load_profile(str(site)),
        load_signing_key(),
    )
    out = tmp_path / "out"
    args = ["bundle", str(tarball), "-o", str(out), "--stamp", str(stamp)]
    assert cli.main([*args, "--site", str(site)]) == EXIT_INPUT
    assert "is for another tarball" in capsys.readouterr().err
    assert not out.exists()
    code = cli.main(["bundle", str(tarball), "-o", str(out), "--site", str(site)])
    assert code == EXIT_OK
    assert str(out / "install.sh") in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("nonempty", "is not empty"),
        ("badsize", "is not a size"),
        ("notar", "does not exist"),
        ("badstamp", "is not readable JSON"),
    ],
)
def test_bundle_command_rejects_bad_input_with_one_line(
    *,
    tarball: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    message: str,
) -> None:
    monkeypatch.setitem(cli._COMMANDS, "bundle", "siteproof.cli.bundle:bundle_command")
    out = tmp_path / "out"
    args = ["bundle", str(tarball), "-o", str(out), "--site", "generic-arm64"]
    if setup == "nonempty":
        out.mkdir()
        (out / "old.txt").write_text("x")
    elif setup == "badsize":
        args += ["--part-size", "huge"]
    elif setup == "notar":
        args[1] = str(tmp_path / "missing.tar")
    else:
        bad = tmp_path / "bad.json"
        bad.write_text("{")
        args += ["--stamp", str(bad)]
    assert cli.main(args) == EXIT_INPUT
    error = capsys.readouterr().err
    lines = error.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert all(line.startswith("hint: ") for line in lines[1:])
    assert "Traceback" not in error


def test_stamp_json_survives_the_bundle_copy(tarball: Path, tmp_path: Path) -> None:
    """The copied stamp is byte-identical, so its signature still holds."""
    stamp = tmp_path / "app.tar.stamp.json"
    stamp.write_text(json.dumps({"format": "x"}))
    with pytest.raises(InputError, match="is not a siteproof stamp"):
        write_bundle(tarball, tmp_path / "out", _profile())
    assert not (tmp_path / "out").exists()
