"""`siteproof inspect` end to end: real tarballs in, verdicts and exit codes out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from siteproof.cli import main
from support import images

SITE_20_10 = """
[site]
platform  = "linux/arm64"
docker    = "20.10"
page_size = "64k"
"""


@pytest.fixture
def site_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(docker: str = "20.10") -> Path:
        path = tmp_path / f"site-{docker}.toml"
        path.write_text(SITE_20_10.replace('"20.10"', f'"{docker}"'))
        return path

    return write


def _inspect_json(
    capsys: pytest.CaptureFixture[str], tarball: Path, *extra: str
) -> tuple[int, dict]:
    code = main(["-q", "inspect", str(tarball), "--format", "json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def _codes(report: dict) -> set[tuple[str, str, str | None]]:
    return {(f["code"], f["severity"], f["path"]) for f in report["findings"]}


@pytest.mark.docker
def test_inspect_passes_a_real_docker_save_of_a_good_arm64_image(
    capsys: pytest.CaptureFixture[str], httpd_arm64_docker_save_tar: Path
) -> None:
    code, report = _inspect_json(capsys, httpd_arm64_docker_save_tar)

    assert code == 0
    assert report["verdict"] == "pass"
    assert report["summary"]["error"] == 0
    assert report["tarball"]["format"] == "docker"
    expected = hashlib.sha256(httpd_arm64_docker_save_tar.read_bytes()).hexdigest()
    assert report["tarball"]["sha256"] == expected
    assert report["site"]["name"] == "kylin-v10-arm64"
    assert report["site"]["builtin"] is True
    assert report["image"]["platform"] == "linux/arm64"


@pytest.mark.docker
def test_inspect_text_says_when_the_builtin_profile_applies(
    capsys: pytest.CaptureFixture[str], httpd_arm64_docker_save_tar: Path
) -> None:
    code = main(["-q", "inspect", str(httpd_arm64_docker_save_tar)])
    out = capsys.readouterr().out

    assert code == 0
    assert out.startswith("PASS")
    assert "built-in profile kylin-v10-arm64" in out


@pytest.mark.docker
def test_inspect_judges_the_oci_form_by_the_sites_docker(
    capsys: pytest.CaptureFixture[str],
    httpd_arm64_oci_tar: Path,
    httpd_arm64_docker_oci_tar: Path,
    site_file: Callable[[str], Path],
) -> None:
    old, new = str(site_file("20.10")), str(site_file("25.0"))

    code, report = _inspect_json(capsys, httpd_arm64_oci_tar, "--site", old)
    assert code == 1
    assert ("archive-oci-only", "error", None) in _codes(report)
    assert _inspect_json(capsys, httpd_arm64_oci_tar, "--site", new)[0] == 0
    # Docker 25+ writes manifest.json too, so old engines still load it.
    assert _inspect_json(capsys, httpd_arm64_docker_oci_tar, "--site", old)[0] == 0


BAD_CASES: list[tuple[str, str, str | None]] = [
    ("bad_crlf_shebang", "shebang-crlf", "/app/start.sh"),
    ("bad_foreign_binary", "foreign-elf", "/bin/busybox"),
    ("bad_s390x", "platform-mismatch", None),
    ("bad_missing_interpreter", "interpreter-missing", "/app/run.py"),
    ("bad_missing_loader", "loader-missing", "/app/bash"),
    ("bad_no_exec_bit", "command-not-executable", "/app/start.sh"),
    ("bad_not_on_path", "command-not-found", "start-app"),
    ("bad_whiteout_entrypoint", "command-missing", "/app/start.sh"),
    ("bad_opaque_entrypoint", "command-missing", "/app/start.sh"),
    ("bad_unknown_user", "user-unknown", "/etc/passwd"),
]


@pytest.mark.parametrize(("builder", "code", "path"), BAD_CASES)
def test_inspect_names_the_offending_path(
    capsys: pytest.CaptureFixture[str],
    site_file: Callable[[str], Path],
    builder: str,
    code: str,
    path: str | None,
) -> None:
    tarball = getattr(images, builder)()

    exit_code, report = _inspect_json(capsys, tarball, "--site", str(site_file()))

    assert exit_code == 1
    assert report["verdict"] == "fail"
    assert (code, "error", path) in _codes(report)


def test_inspect_flags_corrupt_blobs_and_zstd_for_old_engines(
    capsys: pytest.CaptureFixture[str], site_file: Callable[[str], Path]
) -> None:
    site = str(site_file("20.10"))

    for tarball in (images.bad_corrupt_blob(), images.bad_wrong_diff_id()):
        code, report = _inspect_json(capsys, tarball, "--site", site)
        assert code == 1
        assert "blob-corrupt" in {f["code"] for f in report["findings"]}
    code, report = _inspect_json(capsys, images.httpd_arm64_zstd(), "--site", site)
    assert code == 1
    assert "layer-zstd" in {f["code"] for f in report["findings"]}


def test_inspect_warns_about_an_untagged_image(
    capsys: pytest.CaptureFixture[str], untagged_tar: Path
) -> None:
    code, report = _inspect_json(capsys, untagged_tar)

    assert code == 0
    assert ("image-untagged", "warning", None) in _codes(report)


def test_inspect_asks_which_of_several_images_starts(
    capsys: pytest.CaptureFixture[str], multi_image_tar: Path
) -> None:
    code = main(["-q", "inspect", str(multi_image_tar)])
    err = capsys.readouterr().err

    assert code == 2
    assert "error: " in err
    assert "holds 3 images" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"just some text\n" * 100, "not a tar archive"),
        (b"", "is empty"),
    ],
)
def test_inspect_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: bytes | None,
    message: str,
) -> None:
    tarball = tmp_path / "app.tar"
    if content is not None:
        tarball.write_bytes(content)

    code = main(["inspect", str(tarball)])
    err = capsys.readouterr().err

    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_inspect_truncated_tarball_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    whole = images.bad_no_exec_bit().read_bytes()
    tarball = tmp_path / "cut.tar"
    tarball.write_bytes(whole[: len(whole) * 2 // 3])

    code = main(["inspect", str(tarball)])
    err = capsys.readouterr().err

    assert code == 2
    assert "truncated" in err
    assert "Traceback" not in err


def test_inspect_bad_site_file_names_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(SITE_20_10 + "pagesize = 4\n")

    code = main(["inspect", str(images.bad_no_exec_bit()), "--site", str(site)])
    err = capsys.readouterr().err

    assert code == 2
    assert "unknown key [site] pagesize" in err
