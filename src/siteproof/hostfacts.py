"""What the verifying host is: facts gathered in one command round-trip."""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import asdict, dataclass
from typing import Any

from siteproof.errors import InfraError
from siteproof.platforms import normalize_arch
from siteproof.remote.base import Session

log = logging.getLogger(__name__)

_GiB = 1024**3

# One shell script so a slow link pays a single round-trip. Each fact is
# printed as key=value; a missing tool leaves the value empty.
_SCRIPT = r"""
f() { printf '%s=%s\n' "$1" "$(eval "$2" 2>/dev/null | head -n 1)"; }
f arch 'uname -m'
f kernel 'uname -r'
f page_size 'getconf PAGESIZE'
f cgroup_fs 'stat -fc %T /sys/fs/cgroup'
f uid 'id -u'
f selinux 'getenforce || { test -r /sys/fs/selinux/enforce && \
  sed "s/1/enforcing/;s/0/permissive/" /sys/fs/selinux/enforce; }'
f cpu_model 'grep -m1 -E "^(model name|Model|Hardware|CPU part)" /proc/cpuinfo \
  | cut -d: -f2-'
f cpu_flags 'grep -m1 -E "^(flags|Features)" /proc/cpuinfo | cut -d: -f2-'
f binfmt 'ls /proc/sys/fs/binfmt_misc 2>/dev/null | grep qemu- | while read n; \
  do grep -q enabled /proc/sys/fs/binfmt_misc/$n && printf "%s " "$n"; done'
f docker_client 'docker --version'
format='{{.ServerVersion}} {{.Driver}} {{.DockerRootDir}}'
info=$(docker info --format "$format" 2>/dev/null)
printf 'docker_info=%s\n' "$info"
root=${info##* }
f docker_free 'df -Pk "${root:-/var/lib/docker}" | tail -n 1'
d=UPLOAD_DIR; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
f upload_free 'df -Pk "$d" | tail -n 1'
"""


@dataclass(frozen=True, slots=True)
class HostFacts:
    """The host as the report records it.

    Attributes:
        architecture: OCI name (``arm64``), from ``uname -m``.
        machine: ``uname -m`` as printed (``aarch64``).
        page_size: bytes, from ``getconf PAGESIZE``.
        cgroup: ``v1`` or ``v2``.
        qemu: architectures with an enabled QEMU binfmt handler (OCI names).
        docker_free_bytes: free space where the engine keeps images.
        upload_free_bytes: free space of the upload folder.
        same_disk: the two folders share a filesystem.
        is_root: commands run as uid 0 (else iptables goes through sudo).
    """

    architecture: str
    machine: str
    kernel: str
    page_size: int
    cgroup: str
    selinux: str
    cpu_model: str
    cpu_flags: tuple[str, ...]
    qemu: tuple[str, ...]
    docker_server: str
    docker_client: str
    storage_driver: str
    docker_root: str
    docker_free_bytes: int
    upload_free_bytes: int
    same_disk: bool
    is_root: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the facts as JSON-ready data."""
        facts = asdict(self)
        facts["cpu_flags"] = " ".join(self.cpu_flags)
        facts["qemu"] = list(self.qemu)
        return facts

    def can_run(self, architecture: str) -> bool:
        """Tell whether an image of *architecture* can execute here."""
        arch = normalize_arch(architecture)
        return arch == self.architecture or arch in self.qemu


def gather_host_facts(session: Session, *, upload_dir: str) -> HostFacts:
    """Collect the host's facts with one command.

    Raises:
        InfraError: when the host has no Docker or its engine does not answer.
    """
    script = _SCRIPT.replace("UPLOAD_DIR", shlex.quote(upload_dir))
    result = session.run(["sh", "-c", script], timeout_s=60.0)
    raw = dict(
        line.partition("=")[::2] for line in result.stdout.splitlines() if "=" in line
    )
    if not raw.get("docker_client"):
        raise InfraError(
            f"{session.description} has no docker command",
            hint="install Docker on the host (the site's version if possible)",
        )
    if len(raw.get("docker_info", "").split()) < 3:
        raise InfraError(
            f"the Docker engine on {session.description} does not answer",
            hint="start the engine (systemctl start docker) and check its socket",
        )
    facts = _parse_facts(raw)
    log.info(
        "host %s: %s, kernel %s, %d-byte pages, Docker %s (%s)",
        session.description,
        facts.machine,
        facts.kernel,
        facts.page_size,
        facts.docker_server,
        facts.storage_driver,
    )
    return facts


def _parse_facts(raw: dict[str, str]) -> HostFacts:
    server, driver, root = ([*raw.get("docker_info", "").split(), "", "", ""])[:3]
    client = _client_version(raw.get("docker_client", ""))
    docker_df = raw.get("docker_free", "").split()
    upload_df = raw.get("upload_free", "").split()
    qemu = tuple(
        normalize_arch(name.removeprefix("qemu-"))
        for name in raw.get("binfmt", "").split()
    )
    return HostFacts(
        architecture=normalize_arch(raw.get("arch", "")),
        machine=raw.get("arch", ""),
        kernel=raw.get("kernel", ""),
        page_size=_int(raw.get("page_size", "")),
        cgroup="v2" if raw.get("cgroup_fs") == "cgroup2fs" else "v1",
        selinux=raw.get("selinux", "").strip().lower() or "disabled",
        cpu_model=raw.get("cpu_model", "").strip(),
        cpu_flags=tuple(raw.get("cpu_flags", "").split()),
        qemu=qemu,
        docker_server=server,
        docker_client=client,
        storage_driver=driver,
        docker_root=root,
        docker_free_bytes=_free_bytes(docker_df),
        upload_free_bytes=_free_bytes(upload_df),
        same_disk=bool(docker_df) and docker_df[:1] == upload_df[:1],
        is_root=raw.get("uid", "") == "0",
    )


def _client_version(text: str) -> str:
    """Return ``28.2.2`` from ``Docker version 28.2.2, build e6534b4``."""
    match = re.search(r"version ([^,\s]+)", text)
    return match.group(1) if match else ""


def _int(text: str) -> int:
    return int(text) if text.strip().isdigit() else 0


def _free_bytes(df_fields: list[str]) -> int:
    """Return the free bytes of one ``df -Pk`` line (4th column, KiB)."""
    return _int(df_fields[3]) * 1024 if len(df_fields) >= 4 else 0


def check_disk_space(facts: HostFacts, *, tarball_bytes: int, layer_bytes: int) -> None:
    """Refuse a host that cannot hold the tarball plus its loaded layers.

    Args:
        facts: the host's facts.
        tarball_bytes: size of the upload.
        layer_bytes: estimated size of the loaded layers in the engine.

    Raises:
        InfraError: naming the folder that is too small.
    """
    needs = {"upload folder": tarball_bytes, "Docker data root": layer_bytes}
    if facts.same_disk:
        needs = {"disk": tarball_bytes + layer_bytes}
    frees = {"upload folder": facts.upload_free_bytes}
    frees |= {"Docker data root": facts.docker_free_bytes}
    frees["disk"] = facts.docker_free_bytes
    for place, needed in needs.items():
        if frees[place] < needed:
            raise InfraError(
                f"the host's {place} has {frees[place] / _GiB:.1f} GiB free, "
                f"the image needs {needed / _GiB:.1f} GiB",
                hint="free some space or pick a host with a larger disk",
            )
