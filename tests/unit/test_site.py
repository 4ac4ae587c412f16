"""Site profiles: files, built-in names, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from siteproof.errors import SiteFileError
from siteproof.platforms import Platform
from siteproof.site import load_profile, parse_duration

GOOD = """
[site]
platform  = "linux/arm64/v8"
docker    = "20.10.24"
page_size = "64k"
cgroup    = "v1"
offline   = true

[run]
image   = "msg/app:1.4"
ports   = ["8501:8501"]
env     = { TZ = "Asia/Shanghai" }
volumes = ["/data/app:/app/data"]
command = "python3 -m http.server 8501"
restart = "always"

[[check]]
http   = "http://127.0.0.1:8501/_stcore/health"
status = 200
within = "2m"

[[check]]
forbid = ["Traceback"]

[aliyun]
region = "cn-shanghai"
max_lifetime = "1h"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def test_load_profile_reads_every_table(tmp_path: Path) -> None:
    profile = load_profile(str(_write(tmp_path, GOOD)))

    assert profile.site.platform == Platform("linux", "arm64", "v8")
    assert profile.site.docker == (20, 10)
    assert profile.site.page_size == 65536
    assert profile.run.image == "msg/app:1.4"
    assert profile.run.env == {"TZ": "Asia/Shanghai"}
    assert profile.run.command == ("/bin/sh", "-c", "python3 -m http.server 8501")
    assert [c.kind for c in profile.checks] == ["http", "logs"]
    assert profile.checks[0].within_s == 120
    assert profile.aliyun.region == "cn-shanghai"
    assert profile.aliyun.max_lifetime_s == 3600
    assert not profile.is_builtin


def test_load_profile_defaults_to_the_conservative_kylin_profile() -> None:
    profile = load_profile(None)

    assert profile.is_builtin
    assert profile.name == "kylin-v10-arm64"
    assert profile.site.docker == (18, 9)
    assert profile.site.page_size == 65536
    assert str(profile.site.platform) == "linux/arm64"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("page_size", "pagesize"), r"unknown key \[site\] pagesize"),
        (GOOD.replace("image   =", "imgae   ="), r"unknown key \[run\] imgae"),
        (GOOD.replace('"64k"', '"8k"'), r"\[site\] page_size: expected one of"),
        (GOOD.replace('"linux/arm64/v8"', '"arm64"'), r"\[site\] platform"),
        (GOOD.replace('"20.10.24"', '"new"'), r"\[site\] docker"),
        (GOOD.replace("offline   = true", 'offline = "yes"'), r"\[site\] offline"),
        (GOOD.replace("status = 200", 'status = "ok"'), r"\[check\[0\]\] status"),
        (GOOD.replace('"1h"', '"10m"'), r"max_lifetime: must be at least 30m"),
        (GOOD.replace('forbid = ["Traceback"]', 'tcp = 80\nhttp = "x"'), "exactly one"),
        ("[run]\nimage = 'a'\n", r"the \[site\] table is missing"),
        (GOOD.replace('"20.10.24"', "20.10"), "write the version in quotes"),
        (GOOD.replace('"linux/arm64/v8"', '"linux/foo"'), "unknown architecture 'foo'"),
        (GOOD.replace('"8501:8501"', '"abc"'), r"\[run\] ports: 'abc' is not"),
        (GOOD.replace('"8501:8501"', '"99999:1"'), r"\[run\] ports: '99999:1'"),
        (GOOD.replace('"/data/app:/app/data"', '"nocolon"'), r"\[run\] volumes"),
        (GOOD.replace("restart = ", 'workdir = "rel"\nrestart = '), "absolute path"),
        (GOOD.replace('TZ = "Asia/Shanghai"', "A = { B = 1 }"), r"\[run\] env: A"),
        (
            GOOD.replace('http   = "http://127', 'http   = "ftp://127'),
            "http:// or https://",
        ),
        (GOOD.replace("status = 200", "status = 999"), "HTTP status 100-599"),
        (GOOD.replace('within = "2m"', 'within = "0s"'), "above 0"),
        (GOOD.replace('max_lifetime = "1h"', "max_price = -1"), "price of 0 or more"),
        (
            GOOD.replace('max_lifetime = "1h"', 'endpoint = "http://evil.example.com"'),
            "without a scheme",
        ),
        (GOOD.replace('restart = "always"', 'restart = "sometimes"'), "one of '', no"),
        (GOOD.replace("127.0.0.1:8501", "127.0.0.1:9090"), "port 9090, which"),
        (GOOD.replace('forbid = ["Traceback"]', "tcp = 22"), "port 22, which"),
        ("[site\nplatform=", "not valid TOML"),
    ],
)
def test_load_profile_names_the_bad_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SiteFileError, match=message):
        load_profile(str(_write(tmp_path, text)))


def test_load_profile_takes_the_name_from_the_site_table(tmp_path: Path) -> None:
    named = GOOD.replace("[site]\n", '[site]\nname = "kunpeng-kylin"\n', 1)

    assert load_profile(str(_write(tmp_path, named))).name == "kunpeng-kylin"
    assert load_profile(str(_write(tmp_path, GOOD))).name == "site"
    with pytest.raises(SiteFileError, match=r"\[site\] name"):
        load_profile(str(_write(tmp_path, named.replace("kunpeng-kylin", "a b"))))


def test_load_profile_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(GOOD, encoding="utf-8-sig")

    assert load_profile(str(path)).run.image == "msg/app:1.4"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\xff\xfe[site]"), "is not UTF-8 text"),
    ],
)
def test_load_profile_unreadable_file_is_one_clear_line(
    tmp_path: Path, make: object, message: str
) -> None:
    path = tmp_path / "site.toml"
    make(path)  # type: ignore[operator]

    with pytest.raises(SiteFileError, match=message) as caught:
        load_profile(str(path))
    assert "Errno" not in caught.value.message


def test_load_profile_reports_a_missing_file_with_the_builtin_names(
    tmp_path: Path,
) -> None:
    with pytest.raises(SiteFileError, match="does not exist") as caught:
        load_profile(str(tmp_path / "nope.toml"))
    assert caught.value.hint is not None
    assert "kylin-v10-arm64" in caught.value.hint


def test_parse_duration_understands_units() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("1.5m") == 90
    assert parse_duration("2h") == 7200
    assert parse_duration(250) == 250
    with pytest.raises(ValueError, match="duration"):
        parse_duration("soon")


def test_platform_matches_with_default_variant() -> None:
    site = Platform.parse("linux/aarch64")

    assert site.matches(Platform("linux", "arm64", "v8"))
    assert site.matches(Platform("linux", "arm64", ""))
    assert not site.matches(Platform("linux", "amd64", ""))
