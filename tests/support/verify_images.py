"""Images that load fine but misbehave at run time, for ``verify`` tests.

Each is the real arm64 busybox root (Debian's busybox-static) with a start
command that crashes, starts too slowly, loops, listens on loopback only,
needs the network, or logs a forbidden line. Tags carry a per-session id so
parallel runs on the shared engine never touch each other's images.
"""

from __future__ import annotations

import dataclasses
import shlex
import socket
import threading
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from siteproof.archive import writer
from siteproof.archive.model import ArchiveFormat
from siteproof.pipeline import new_run_id
from siteproof.report.verify import VerifyReport
from siteproof.site import SiteProfile, parse_profile
from support.images import HTTPD_PORT, busybox_spec

SESSION_TAG = uuid.uuid4().hex[:8]
SERVE = f"exec httpd -f -p {HTTPD_PORT} -h /www"

# case -> shell command the container starts with.
RUNTIME_CASES = {
    "good": SERVE,
    "crash": "echo 'fatal: config missing' >&2; exit 3",
    "slow": f"sleep 60; {SERVE}",
    "loop": "echo booting; sleep 0.5; exit 1",
    "loopback": f"exec httpd -f -p 127.0.0.1:{HTTPD_PORT} -h /www",
    "forbidden_log": f"echo 'Traceback (most recent call last):' >&2; {SERVE}",
    # Needs a service "on the internet" at $FETCH_ADDR:$FETCH_PORT first.
    "needs_network": (
        'if nc -w 3 "$FETCH_ADDR" "$FETCH_PORT" </dev/null | grep -q .; '
        f"then {SERVE}; "
        'else echo "cannot fetch the model from $FETCH_ADDR" >&2; exit 1; fi'
    ),
}


def runtime_tag(case: str) -> str:
    """Return the unique tag of one runtime case image."""
    return f"siteproof-verify/{case.replace('_', '-')}-{SESSION_TAG}:1"


def build_runtime_image(case: str, folder: Path, *, arch: str = "arm64") -> Path:
    """Write the tarball of *case* (a ``docker save`` layout) into *folder*.

    The case ``s390x`` is the good image built for s390x, which QEMU is
    deliberately not registered for on these machines.
    """
    command = RUNTIME_CASES["good" if case in ("s390x", "healthy") else case]
    spec = busybox_spec(arch, tags=[runtime_tag(case)], cmd=("/bin/sh", "-c", command))
    if case == "healthy":
        probe = f"wget -q -O /dev/null http://127.0.0.1:{HTTPD_PORT}/"
        spec = dataclasses.replace(spec, healthcheck=("CMD-SHELL", probe))
    path = folder / f"{case}-{arch}.tar"
    if not path.exists():
        writer.write_archive(path, [spec], ArchiveFormat.DOCKER)
    return path


@pytest.fixture(scope="session")
def runtime_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every runtime case as a tarball, keyed by case name."""
    folder = tmp_path_factory.mktemp("runtime-images")
    images = {case: build_runtime_image(case, folder) for case in RUNTIME_CASES}
    images["s390x"] = build_runtime_image("s390x", folder, arch="s390x")
    images["healthy"] = build_runtime_image("healthy", folder)
    return images


class BannerServer:
    """A TCP server that greets every connection with one line, then closes it."""

    def __init__(self, address: str) -> None:
        """Listen on *address* at a free port."""
        self.socket = socket.create_server((address, 0))
        self.address = address
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(b"model-data\n")

    def close(self) -> None:
        """Stop listening."""
        self.socket.close()


@pytest.fixture
def banner_server(test_host: object) -> Iterator[BannerServer]:
    """A service on the root side of every test host's link (198.51.100.1).

    From inside a test host it is "the internet": beyond the host.
    """
    server = BannerServer("198.51.100.1")
    yield server
    server.close()


# Site profiles and leftover checks -------------------------------------------

SITE_HEAD = """
[site]
platform = "linux/arm64"
docker = "20.10"
page_size = "4k"
cgroup = "v1"
offline = {offline}
"""


def make_profile(body: str = "", *, offline: bool = True) -> SiteProfile:
    """Return a site profile for an arm64 site with *body* after ``[site]``."""
    text = SITE_HEAD.format(offline=str(offline).lower()) + body
    return parse_profile(tomllib.loads(text), source="test", name="test")


@dataclass
class RunRecord:
    """A run id and the image tags it loaded, for the leftover check."""

    run_id: str = field(default_factory=new_run_id)
    tags: list[str] = field(default_factory=list)

    def note(self, report: VerifyReport) -> VerifyReport:
        """Remember the tags a report says were loaded; return the report."""
        self.tags += [tag for tag in report.loaded if not tag.startswith("sha256:")]
        return report

    def leftovers(self, run: Callable[[str], str]) -> list[str]:
        """Return what this run left on the host."""
        return leftovers(self.run_id, self.tags, run)


def leftovers(run_id: str, tags: Sequence[str], run: Callable[[str], str]) -> list[str]:
    """Return what a run left on a host; *run* executes a shell line there.

    Looks for the run's container, network, firewall rule, upload folder and
    the image tags it loaded.
    """
    probes = {
        "container": f"docker ps -aq --filter label=siteproof.run={run_id}",
        "network": f"docker network ls -q --filter name=siteproof-{run_id}",
        "firewall rule": f"iptables -S DOCKER-USER | grep -F 'siteproof run {run_id}'",
        "upload folder": f"ls -d /var/tmp/siteproof/{run_id} 2>/dev/null",
    }
    probes |= {f"image {tag}": f"docker image ls -q {shlex.quote(tag)}" for tag in tags}
    return [
        f"{kind}: {output}"
        for kind, command in probes.items()
        if (output := run(command).strip())
    ]
