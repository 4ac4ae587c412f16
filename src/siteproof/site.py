"""The site profile: the customer's server and how the container starts there.

A profile comes from a ``site.toml`` file or from a built-in name such as
``kylin-v10-arm64``. Every key is checked: an unknown key or a bad value is
an input error that names the key, so a typo cannot silently drop a setting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from siteproof.errors import SiteFileError
from siteproof.platforms import KNOWN_ARCHITECTURES, Platform

DEFAULT_PROFILE = "kylin-v10-arm64"

PAGE_SIZES = {"4k": 4096, "16k": 16384, "64k": 65536}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str | int | float) -> float:
    """Return seconds for ``"120s"``, ``"2m"``, ``"1.5h"`` or a bare number.

    Raises:
        ValueError: when the text is not a duration.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration, got {text!r}")
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like 30s, 2m or 1h, got {text!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """The ``[site]`` table: the machine the image will meet."""

    platform: Platform
    docker: tuple[int, int]
    page_size: int
    cgroup: str = "v1"
    offline: bool = True
    kernel: str = ""
    selinux: str = ""
    cpu_features: tuple[str, ...] = ()
    cpu_model: str = ""
    storage_driver: str = ""

    @property
    def docker_text(self) -> str:
        """Return the engine version as Docker spells it (18.09, 20.10, 24.0)."""
        major, minor = self.docker
        return f"{major}.{minor:02d}" if major < 23 else f"{major}.{minor}"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """The ``[run]`` table: what the site types after ``docker load``."""

    image: str = ""
    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    workdir: str = ""
    user: str = ""
    ports: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    restart: str = ""


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One ``[[check]]`` entry; ``kind`` says which of the fields apply."""

    kind: str
    target: str = ""
    status: int = 200
    body: str = ""
    within_s: float = 60.0
    settle_s: float = 5.0
    forbid: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class AliyunSpec:
    """The ``[aliyun]`` table: where and what to rent for ``verify``."""

    region: str = "cn-hangzhou"
    instance_types: tuple[str, ...] = (
        "ecs.c8y.large",
        "ecs.g8y.large",
        "ecs.c6r.large",
    )
    spot: bool = False
    max_lifetime_s: float = 7200.0
    max_price: float | None = None
    endpoint: str = ""
    ssh_from: str = "0.0.0.0/0"
    image_id: str = ""
    docker_version: str = ""


@dataclass(frozen=True, slots=True)
class SiteProfile:
    """A whole site profile and where it came from."""

    name: str
    source: str
    site: SiteSpec
    run: RunSpec = field(default_factory=RunSpec)
    checks: tuple[CheckSpec, ...] = ()
    aliyun: AliyunSpec = field(default_factory=AliyunSpec)
    is_builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the profile as JSON-ready data for reports."""
        site = self.site
        return {
            "name": self.name,
            "source": self.source,
            "builtin": self.is_builtin,
            "platform": str(site.platform),
            "docker": site.docker_text,
            "page_size": site.page_size,
            "cgroup": site.cgroup,
            "offline": site.offline,
            "image": self.run.image,
        }


_BUILTIN_SITES: dict[str, dict[str, Any]] = {
    # Kylin V10 SP1-SP3 on Kunpeng 920 / Phytium: distro Docker 18.09,
    # a 64 KiB-page kernel and cgroup v1. The most conservative target.
    "kylin-v10-arm64": {
        "platform": "linux/arm64",
        "docker": "18.09",
        "page_size": "64k",
        "cgroup": "v1",
        "offline": True,
    },
    # Kylin V10 installs whose kernel was built with 4 KiB pages.
    "kylin-v10-arm64-4k": {
        "platform": "linux/arm64",
        "docker": "18.09",
        "page_size": "4k",
        "cgroup": "v1",
        "offline": True,
    },
    # A current arm64 server distribution with a recent Docker.
    "generic-arm64": {
        "platform": "linux/arm64",
        "docker": "24.0",
        "page_size": "4k",
        "cgroup": "v2",
        "offline": True,
    },
}


def _builtin_hint() -> str:
    return "built-in profiles: " + ", ".join(builtin_profile_names())


def builtin_profile_names() -> list[str]:
    """Return the names ``--site`` accepts besides a file path."""
    return sorted(_BUILTIN_SITES)


def load_profile(name_or_path: str | None) -> SiteProfile:
    """Load a site profile from a file, or a built-in one by name.

    Args:
        name_or_path: a ``site.toml`` path, a built-in name, or None for the
            default built-in profile.

    Raises:
        SiteFileError: when the file is missing, unreadable or invalid.
    """
    if name_or_path is None:
        return _builtin(DEFAULT_PROFILE)
    if name_or_path in _BUILTIN_SITES and not Path(name_or_path).exists():
        return _builtin(name_or_path)
    if not name_or_path.strip():
        raise SiteFileError("--site is empty", hint=_builtin_hint())
    path = Path(name_or_path)
    try:
        # utf-8-sig: Windows editors put a byte order mark in front.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SiteFileError(
            f"site file {path} does not exist", hint=_builtin_hint()
        ) from None
    except IsADirectoryError:
        raise SiteFileError(f"site file {path} is a directory") from None
    except UnicodeDecodeError:
        raise SiteFileError(
            f"site file {path} is not UTF-8 text", hint="save it as UTF-8"
        ) from None
    except OSError as exc:
        raise SiteFileError(f"cannot read site file {path}: {exc.strerror}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteFileError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(document, source=str(path), name=path.stem)


def _builtin(name: str) -> SiteProfile:
    profile = parse_profile(
        {"site": _BUILTIN_SITES[name]}, source="built-in", name=name
    )
    return SiteProfile(
        name=profile.name,
        source=profile.source,
        site=profile.site,
        is_builtin=True,
    )


def parse_profile(
    document: Mapping[str, Any], *, source: str, name: str
) -> SiteProfile:
    """Validate a parsed TOML document and build the profile.

    Raises:
        SiteFileError: naming the first key that is unknown or invalid.
    """
    reader = _TableReader(source)
    reader.reject_unknown("", document, {"site", "run", "check", "aliyun"})
    if "site" not in document:
        raise SiteFileError(f"{source}: the [site] table is missing")
    checks = document.get("check", [])
    if not isinstance(checks, list):
        raise SiteFileError(f"{source}: use [[check]] (an array of tables)")
    site_table = document["site"]
    named = site_table.get("name") if isinstance(site_table, Mapping) else None
    profile = SiteProfile(
        name=_site_name(named, source) if named is not None else name,
        source=source,
        site=_parse_site(reader, reader.table("site", document["site"])),
        run=_parse_run(reader, reader.table("run", document.get("run", {}))),
        checks=tuple(
            _parse_check(reader, reader.table(f"check[{i}]", entry))
            for i, entry in enumerate(checks)
        ),
        aliyun=_parse_aliyun(
            reader, reader.table("aliyun", document.get("aliyun", {}))
        ),
    )
    _check_ports_are_published(profile)
    return profile


def _site_name(value: Any, source: str) -> str:
    """Check ``[site] name``: it names stamps and report folders."""
    if not isinstance(value, str) or not re.match(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", value
    ):
        raise SiteFileError(
            f"{source}: [site] name: expected letters, digits, _ . and -, got {value!r}"
        )
    return value


def _check_ports_are_published(profile: SiteProfile) -> None:
    """Refuse a check on a host port that ``[run] ports`` does not publish.

    Without ``[run] ports`` the image's EXPOSEd ports are published, which
    only the tarball knows, so nothing is refused then.
    """
    published = {
        int(match.group(1))
        for match in map(_PORT.match, profile.run.ports)
        if match and match.group(1)
    }
    if not profile.run.ports:
        return
    for number, check in enumerate(profile.checks):
        port = _checked_port(check)
        if port is not None and port not in published:
            raise SiteFileError(
                f"{profile.source}: [check[{number}]] uses port {port}, which "
                "[run] ports does not publish on the host",
                hint="published: " + (", ".join(map(str, sorted(published))) or "none"),
            )


def _checked_port(check: CheckSpec) -> int | None:
    if check.kind == "tcp":
        return int(check.target)
    if check.kind != "http":
        return None
    parts = urlsplit(check.target)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return None
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


class _TableReader:
    """Typed access to TOML tables with errors that name the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> SiteFileError:
        return SiteFileError(f"{self.source}: {key}: {problem}")

    def table(self, key: str, value: Any) -> tuple[str, Mapping[str, Any]]:
        if not isinstance(value, Mapping):
            raise self.fail(key, "expected a table")
        return key, value

    def reject_unknown(
        self, prefix: str, table: Mapping[str, Any], known: set[str]
    ) -> None:
        for key in table:
            if key not in known:
                where = f"[{prefix}] " if prefix else ""
                raise SiteFileError(
                    f"{self.source}: unknown key {where}{key}",
                    hint="known keys: " + ", ".join(sorted(known)),
                )

    def get(
        self,
        table: tuple[str, Mapping[str, Any]],
        key: str,
        convert: Callable[[Any], Any],
        default: Any = None,
    ) -> Any:
        prefix, values = table
        if key not in values:
            return default
        try:
            return convert(values[key])
        except (TypeError, ValueError) as exc:
            raise self.fail(f"[{prefix}] {key}", str(exc)) from None


def _expect(kind: type, label: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise TypeError(f"expected {label}, got {value!r}")
        return value

    return convert


def _string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _argv(value: Any) -> tuple[str, ...]:
    """Accept an exec-form list, or a string meaning the shell form."""
    if isinstance(value, str):
        return ("/bin/sh", "-c", value)
    return _string_list(value)


def _docker_version(value: Any) -> tuple[int, int]:
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise ValueError(
            f'write the version in quotes, e.g. docker = "20.10" '
            f"(a bare {value} is a number)"
        )
    # Distributions append their own suffix: 20.10.24+dfsg1, 18.09.1-ky10.
    match = re.match(r"^\s*(\d{1,3})\.(\d{1,3})(?![\d])", str(value))
    if not match:
        raise ValueError(f"expected a version like 20.10, got {value!r}")
    return int(match.group(1)), int(match.group(2))


def _page_size(value: Any) -> int:
    key = str(value).lower()
    if key not in PAGE_SIZES:
        raise ValueError(f"expected one of 4k, 16k, 64k, got {value!r}")
    return PAGE_SIZES[key]


def _choice(*allowed: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in allowed:
            names = ", ".join(a or repr(a) for a in allowed)
            raise ValueError(f"expected one of {names}, got {value!r}")
        return str(value)

    return convert


def _env(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError("expected a table of NAME = value")
    for name, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise TypeError(f"{name}: expected a text or number value, got {item!r}")
    return {
        str(k): str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in value.items()
    }


_PORT = re.compile(
    r"^(?:(?:\[[0-9a-fA-F:.]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(\d{1,5}):)?(\d{1,5})(?:/(tcp|udp|sctp))?$"
)


def _ports(value: Any) -> tuple[str, ...]:
    ports = _string_list(value)
    for port in ports:
        match = _PORT.match(port)
        numbers = [int(n) for n in match.groups()[:2] if n] if match else []
        if not match or not all(0 < n < 65536 for n in numbers):
            raise ValueError(
                f"{port!r} is not [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp] "
                "with ports 1-65535"
            )
    return ports


def _volumes(value: Any) -> tuple[str, ...]:
    volumes = _string_list(value)
    for volume in volumes:
        parts = volume.split(":")
        container = parts[1] if len(parts) > 1 else parts[0]
        if not container.startswith("/") or len(parts) > 3:
            raise ValueError(
                f"{volume!r} is not HOST_PATH_OR_NAME:/CONTAINER_PATH[:ro] "
                "(the container path must be absolute)"
            )
    return volumes


def _absolute(value: Any) -> str:
    path = _STRING(value)
    if path and not path.startswith("/"):
        raise ValueError(f"expected an absolute path, got {path!r}")
    return str(path)


def _http_url(value: Any) -> str:
    url = _STRING(value)
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    return str(url)


def _http_status(value: Any) -> int:
    status = _INT(value)
    if not 100 <= status <= 599:
        raise ValueError(f"expected an HTTP status 100-599, got {status}")
    return int(status)


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if not 0 < seconds < 7 * 86400:
        raise ValueError(f"expected a duration above 0 and below 7 days, got {value!r}")
    return seconds


def _price(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    if not 0 <= value < float("inf"):
        raise ValueError(f"expected a price of 0 or more, got {value!r}")
    return float(value)


def _endpoint(value: Any) -> str:
    endpoint = _STRING(value)
    if endpoint and not re.match(r"^[A-Za-z0-9.-]+(:\d{1,5})?$", endpoint):
        raise ValueError(
            f"expected HOST[:PORT] without a scheme (the API is always signed "
            f"and, except on this machine, sent over https), got {endpoint!r}"
        )
    return str(endpoint)


def _platform(value: Any) -> Platform:
    platform = Platform.parse(_STRING(value))
    if platform.architecture not in KNOWN_ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {platform.architecture!r}; expected one of "
            + ", ".join(sorted(KNOWN_ARCHITECTURES))
        )
    return platform


_STRING = _expect(str, "a string")
_BOOL = _expect(bool, "true or false")
_INT = _expect(int, "a whole number")


def _parse_site(reader: _TableReader, table: tuple[str, Mapping[str, Any]]) -> SiteSpec:
    known = {"name", "platform", "docker", "page_size", "cgroup", "offline"}
    known |= {"kernel", "selinux", "cpu_features", "cpu_model", "storage_driver"}
    reader.reject_unknown("site", table[1], known)
    for required in ("platform", "docker", "page_size"):
        if required not in table[1]:
            raise reader.fail(f"[site] {required}", "missing")
    return SiteSpec(
        platform=reader.get(table, "platform", _platform),
        docker=reader.get(table, "docker", _docker_version),
        page_size=reader.get(table, "page_size", _page_size),
        cgroup=reader.get(table, "cgroup", _choice("v1", "v2"), "v1"),
        offline=reader.get(table, "offline", _BOOL, True),
        kernel=reader.get(table, "kernel", _STRING, ""),
        selinux=reader.get(
            table, "selinux", _choice("enforcing", "permissive", "disabled"), ""
        ),
        cpu_features=reader.get(table, "cpu_features", _string_list, ()),
        cpu_model=reader.get(table, "cpu_model", _STRING, ""),
        storage_driver=reader.get(table, "storage_driver", _STRING, ""),
    )


def _parse_run(reader: _TableReader, table: tuple[str, Mapping[str, Any]]) -> RunSpec:
    known = {"image", "entrypoint", "command", "workdir", "user", "ports", "env"}
    known |= {"volumes", "restart"}
    reader.reject_unknown("run", table[1], known)
    return RunSpec(
        image=reader.get(table, "image", _STRING, ""),
        entrypoint=reader.get(table, "entrypoint", _argv),
        command=reader.get(table, "command", _argv),
        workdir=reader.get(table, "workdir", _absolute, ""),
        user=reader.get(table, "user", _STRING, ""),
        ports=reader.get(table, "ports", _ports, ()),
        env=reader.get(table, "env", _env, {}),
        volumes=reader.get(table, "volumes", _volumes, ()),
        restart=reader.get(
            table,
            "restart",
            _choice("", "no", "always", "unless-stopped", "on-failure"),
            "",
        ),
    )


_CHECK_KINDS = ("http", "tcp", "alive", "healthcheck", "logs", "exec")


def _parse_check(
    reader: _TableReader, table: tuple[str, Mapping[str, Any]]
) -> CheckSpec:
    prefix, values = table
    known = set(_CHECK_KINDS) | {"status", "body", "within", "settle"}
    known |= {"forbid", "require", "exit_code"}
    reader.reject_unknown(prefix, values, known)
    kinds = [k for k in _CHECK_KINDS if k in values]
    if "logs" not in kinds and ("forbid" in values or "require" in values):
        kinds.append("logs")
    if len(kinds) != 1:
        raise reader.fail(
            f"[{prefix}]", "name exactly one of " + ", ".join(_CHECK_KINDS)
        )
    kind = kinds[0]
    target = ""
    if kind == "http":
        target = reader.get(table, "http", _http_url)
    elif kind == "tcp":
        target = str(reader.get(table, "tcp", _INT))
    return CheckSpec(
        kind=kind,
        target=target,
        status=reader.get(table, "status", _http_status, 200),
        body=reader.get(table, "body", _STRING, ""),
        within_s=reader.get(table, "within", _positive_duration, 60.0),
        settle_s=reader.get(table, "settle", _positive_duration, 5.0),
        forbid=reader.get(table, "forbid", _string_list, ()),
        require=reader.get(table, "require", _string_list, ()),
        command=reader.get(table, "exec", _argv, ()),
        exit_code=reader.get(table, "exit_code", _INT, 0),
    )


def _lifetime(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 1800:
        raise ValueError("must be at least 30m (the cloud's minimum)")
    return seconds


def _parse_aliyun(
    reader: _TableReader, table: tuple[str, Mapping[str, Any]]
) -> AliyunSpec:
    known = {"region", "instance_types", "spot", "max_lifetime", "max_price"}
    known |= {"endpoint", "ssh_from", "image_id", "docker_version"}
    reader.reject_unknown("aliyun", table[1], known)
    defaults = AliyunSpec()
    price = reader.get(table, "max_price", _price)
    return AliyunSpec(
        region=reader.get(table, "region", _STRING, defaults.region),
        instance_types=reader.get(
            table, "instance_types", _string_list, defaults.instance_types
        ),
        spot=reader.get(table, "spot", _BOOL, False),
        max_lifetime_s=reader.get(
            table, "max_lifetime", _lifetime, defaults.max_lifetime_s
        ),
        max_price=None if price is None else float(price),
        endpoint=reader.get(table, "endpoint", _endpoint, ""),
        ssh_from=reader.get(table, "ssh_from", _STRING, defaults.ssh_from),
        image_id=reader.get(table, "image_id", _STRING, ""),
        docker_version=reader.get(table, "docker_version", _STRING, ""),
    )
