"""Benchmark: SshSession.upload against scp + sha256sum on a real test host.

Creates a test host (network namespace, real sshd; needs root), optionally
limits its link with tc, and times in one process run:

- ``scp FILE host:`` followed by ``ssh host sha256sum``  (the baseline),
- ``open_session(...).upload(FILE, ..., sha256=...)``     (siteproof),
- raw channel throughput of asyncssh and paramiko (the library choice).

Usage::

    /work/venv/bin/python bench/upload.py [--rate 100mbit] [--file IMAGE.tar]
        [--unshaped] [--libraries]

The compressible file is a real image tarball from /var/cache/siteproof-tests/
when one exists, else a stand-in: a ~200 MB tar of this machine's /usr. The
incompressible case is a file of random bytes of the same size.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from siteproof.remote.session import open_session
from support.testhosts import (
    TestHost,
    claim_host_number,
    create_test_host,
    destroy_test_host,
    ensure_blackhole_route,
    remove_blackhole_route_if_unused,
    shape_link,
    unshape_link,
)

CACHE = Path("/var/cache/siteproof-tests")
SIZE_BYTES = 200 * 1000 * 1000


@dataclass(frozen=True)
class Timing:
    """One measured way of getting a file onto the host, verified."""

    label: str
    seconds: float
    size_bytes: int

    @property
    def rate_mb_s(self) -> float:
        return self.size_bytes / self.seconds / 1e6


def find_real_tarball() -> Path | None:
    """Return the largest image or root tarball in the test cache, if any."""
    if not CACHE.is_dir():
        return None
    tars = [p for p in CACHE.glob("*.tar") if p.stat().st_size > 50_000_000]
    return max(tars, key=lambda p: p.stat().st_size) if tars else None


def build_usr_tarball(path: Path) -> Path:
    """Write a ~200 MB tar of real files from /usr (a stand-in image layer)."""
    with tarfile.open(path, "w") as archive:
        for file in sorted(Path("/usr").rglob("*")):
            if path.stat().st_size > SIZE_BYTES:
                break
            if file.is_file() and not file.is_symlink():
                archive.add(file, recursive=False)
    return path


def build_random_file(path: Path, size: int) -> Path:
    """Write ``size`` incompressible bytes."""
    with path.open("wb") as stream:
        for _ in range(size // (1 << 20)):
            stream.write(os.urandom(1 << 20))
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ssh_options(host: TestHost) -> list[str]:
    return [
        "-i", str(host.client_key),
        "-o", f"UserKnownHostsFile={host.known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
    ]  # fmt: skip


def remote_path(host: TestHost) -> str:
    """Where the file lands: in the host's state folder, removed with it."""
    return f"{host.state_dir}/upload.bin"


def clean_remote(host: TestHost) -> None:
    path = remote_path(host)
    subprocess.run(
        [
            "ssh",
            *ssh_options(host),
            f"root@{host.address}",
            f"rm -f {path} {path}.part",
        ],
        check=True,
    )


def time_scp(host: TestHost, path: Path, digest: str) -> Timing:
    """scp the file, then sha256sum it over ssh, as a person would."""
    clean_remote(host)
    started = time.monotonic()
    target = f"root@{host.address}:{remote_path(host)}"
    subprocess.run(["scp", "-q", *ssh_options(host), str(path), target], check=True)
    login = f"root@{host.address}"
    check = ["ssh", *ssh_options(host), login, f"sha256sum {remote_path(host)}"]
    out = subprocess.run(check, check=True, capture_output=True, text=True).stdout
    seconds = time.monotonic() - started
    if out.split()[0] != digest:
        raise SystemExit(f"scp copy differs: {out}")
    return Timing("scp + ssh sha256sum", seconds, path.stat().st_size)


def time_siteproof(host: TestHost, path: Path, digest: str) -> Timing:
    """open_session + upload (verified on the host), connection setup included."""
    clean_remote(host)
    started = time.monotonic()
    with open_session(
        host.address, identity=host.client_key, known_hosts=host.known_hosts
    ) as session:
        session.upload(path, remote_path(host), sha256=digest)
    return Timing("siteproof upload", time.monotonic() - started, path.stat().st_size)


def link_mb_s(rate: str) -> float:
    """Turn a tc rate such as ``100mbit`` into MB/s."""
    units = {"kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8}
    for unit, scale in units.items():
        if rate.endswith(unit):
            return float(rate.removesuffix(unit)) * scale / 1e6
    raise SystemExit(f"unknown rate {rate}")


def compare(
    host: TestHost, path: Path, title: str, link: float | None = None
) -> list[str]:
    digest = sha256_of(path)
    scp = time_scp(host, path, digest)
    ours = time_siteproof(host, path, digest)
    lines = [f"{title}: {path} ({path.stat().st_size / 1e6:.0f} MB)"]
    for timing in (scp, ours):
        seconds, rate = timing.seconds, timing.rate_mb_s
        lines.append(f"  {timing.label:<22} {seconds:6.2f} s  {rate:6.1f} MB/s")
    lines.append(f"  ratio siteproof / scp: {ours.seconds / scp.seconds:.2f}")
    if link:
        lines.append(f"  siteproof effective rate: {ours.rate_mb_s / link:.0%} of link")
    return lines


async def _asyncssh_rate(host: TestHost, path: Path, cipher: str) -> float:
    import asyncssh  # noqa: PLC0415

    async with asyncssh.connect(
        host.address, username="root", client_keys=[str(host.client_key)],
        known_hosts=str(host.known_hosts), encryption_algs=[cipher],
        compression_algs=["none"],
    ) as conn:  # fmt: skip
        started = time.monotonic()
        proc = await conn.create_process("cat > /dev/null", encoding=None)
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                proc.stdin.write(chunk)
                await proc.stdin.drain()
        proc.stdin.write_eof()
        await proc.wait()
        return path.stat().st_size / (time.monotonic() - started) / 1e6


def _paramiko_rate(host: TestHost, path: Path, cipher: str) -> float:
    import paramiko  # noqa: PLC0415

    others = [c for c in paramiko.Transport._preferred_ciphers if c != cipher]
    client = paramiko.SSHClient()
    client.load_host_keys(str(host.known_hosts))
    client.connect(
        host.address, username="root", key_filename=str(host.client_key),
        look_for_keys=False, allow_agent=False,
        disabled_algorithms={"ciphers": others},
    )  # fmt: skip
    try:
        transport = client.get_transport()
        assert transport is not None
        started = time.monotonic()
        channel = transport.open_session(window_size=16 << 20)
        channel.exec_command("cat > /dev/null")
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                channel.sendall(chunk)
        channel.shutdown_write()
        channel.recv_exit_status()
        return path.stat().st_size / (time.monotonic() - started) / 1e6
    finally:
        client.close()


def library_rates(host: TestHost, path: Path) -> list[str]:
    """Raw one-channel throughput of both libraries, no compression."""
    lines = [f"raw channel throughput into cat > /dev/null, {path.name}:"]
    for cipher in ("aes128-gcm@openssh.com", "aes128-ctr"):
        rate = asyncio.run(_asyncssh_rate(host, path, cipher))
        lines.append(f"  asyncssh {cipher:<24} {rate:6.1f} MB/s")
        rate = _paramiko_rate(host, path, cipher)
        lines.append(f"  paramiko {cipher:<24} {rate:6.1f} MB/s")
    return lines


@contextmanager
def bench_host(state_root: Path) -> Iterator[TestHost]:
    added = ensure_blackhole_route()
    host = create_test_host(claim_host_number(), state_root)
    try:
        yield host
    finally:
        destroy_test_host(host)
        if added:
            remove_blackhole_route_if_unused()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", default="100mbit", help="tc tbf rate of the link")
    parser.add_argument("--file", type=Path, help="compressible file to send")
    parser.add_argument("--unshaped", action="store_true", help="also run unshaped")
    parser.add_argument("--libraries", action="store_true", help="compare libraries")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="sp-bench-") as scratch:
        work = Path(scratch)
        real = args.file or find_real_tarball() or build_usr_tarball(work / "usr.tar")
        noise = build_random_file(work / "random.bin", real.stat().st_size)
        with bench_host(work) as host:
            results: list[str] = []
            if args.libraries:
                results += library_rates(host, noise)
            if args.unshaped:
                results += compare(host, real, "unshaped, image tarball")
                results += compare(host, noise, "unshaped, random bytes")
            shape_link(host, args.rate)
            link = link_mb_s(args.rate)
            results += compare(host, real, f"{args.rate}, image tarball", link)
            results += compare(host, noise, f"{args.rate}, random bytes", link)
            unshape_link(host)
    print("\n".join(results))


if __name__ == "__main__":
    main()
