"""SshSession against real OpenSSH servers in network-namespace test hosts."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siteproof.errors import CommandError, ConnectError, InfraError
from siteproof.remote.session import SshSession, open_session
from support.testhosts import TestHost, cut_connections, host_popen, host_run

pytestmark = [pytest.mark.ssh]

UNREACHABLE = "198.51.100.250"  # inside the blackholed test net, no host there


def _open(host: TestHost, **kwargs: object) -> SshSession:
    options: dict[str, object] = {
        "user": host.user,
        "identity": host.client_key,
        "known_hosts": host.known_hosts,
    }
    options.update(kwargs)
    return open_session(host.address, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def session(test_host: TestHost) -> Iterator[SshSession]:
    with _open(test_host) as ssh:
        yield ssh


@pytest.fixture(scope="module")
def cut_host(test_host_factory: Callable[..., TestHost]) -> TestHost:
    """A host of its own: cutting connections must not hit other tests' sessions."""
    return test_host_factory()


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 24 MB file: 12 MB of random bytes, then 12 MB of compressible text."""
    path = tmp_path_factory.mktemp("upload") / "payload.bin"
    lines = (b"line %08d of a fairly compressible file\n" % i for i in range(3 << 16))
    with path.open("wb") as stream:
        stream.write(os.urandom(12 << 20))
        stream.write(b"".join(lines)[: 12 << 20].ljust(12 << 20, b"."))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _remote_sha256(session: SshSession, path: str) -> str:
    return session.run(["sha256sum", path]).stdout.split()[0]


def test_open_session_connects_and_describes_itself(session: SshSession) -> None:
    result = session.run("id -un; echo $DOCKER_HOST")
    assert result.stdout.splitlines()[0] == "root"
    assert result.stdout.splitlines()[1].startswith("unix://")
    assert session.description.startswith("root@198.51.100.")


def test_run_returns_status_output_and_duration(session: SshSession) -> None:
    result = session.run("echo out; echo err >&2; sleep 0.2; exit 3")
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.succeeded
    assert result.duration_s >= 0.2


def test_run_quotes_argv_and_feeds_stdin(session: SshSession) -> None:
    result = session.run(["sh", "-c", 'cat; echo "$0"', "a b"], stdin=b"in;")
    assert result.stdout == "in;a b\n"


def test_run_timeout_raises_command_error(session: SshSession) -> None:
    with pytest.raises(CommandError, match=r"timed out after 0\.5 s"):
        session.run("sleep 5", timeout_s=0.5)
    assert session.run("true").succeeded


def test_run_dropped_connection_raises_connect_error_then_reconnects(
    cut_host: TestHost,
) -> None:
    with _open(cut_host) as ssh:
        cutter = threading.Timer(0.5, cut_connections, [cut_host])
        cutter.start()
        with pytest.raises(ConnectError, match="dropped"):
            ssh.run("sleep 5")
        cutter.join()
        assert ssh.run("echo back").stdout == "back\n"


def test_open_session_wrong_key_raises_connect_error(
    test_host: TestHost, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
        check=True,
    )
    with pytest.raises(ConnectError, match="refused our SSH key") as caught:
        _open(test_host, identity=stranger)
    assert "--identity" in str(caught.value.hint)


def test_open_session_unknown_host_key_raises_connect_error(
    test_host: TestHost, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    with pytest.raises(ConnectError, match=r"host key of .* is not known") as caught:
        _open(test_host, known_hosts=empty)
    assert "--accept-new-host-key" in str(caught.value.hint)
    assert not empty.exists()


def test_open_session_accept_new_records_the_key(
    test_host: TestHost, tmp_path: Path
) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    with _open(test_host, known_hosts=known, accept_new_host_key=True) as ssh:
        assert ssh.run("true").succeeded
    assert known.read_text() == test_host.known_hosts_line + "\n"
    with _open(test_host, known_hosts=known) as ssh:
        assert ssh.run("true").succeeded


def test_open_session_changed_host_key_is_refused_even_with_accept_new(
    test_host: TestHost, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True
    )
    known = tmp_path / "known_hosts"
    other_key = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known.write_text(f"{test_host.address} {other_key}\n")
    with pytest.raises(ConnectError, match=r"host key of .* CHANGED"):
        _open(test_host, known_hosts=known, accept_new_host_key=True)
    assert known.read_text() == f"{test_host.address} {other_key}\n"


def test_open_session_unreachable_address_fails_fast(
    test_host: TestHost, tmp_path: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectError, match=rf"root@{UNREACHABLE}:22"):
        open_session(
            UNREACHABLE,
            identity=test_host.client_key,
            known_hosts=tmp_path / "known_hosts",
            connect_timeout_s=5,
        )
    assert time.monotonic() - started < 6


def test_upload_verifies_and_reports_progress(
    session: SshSession, test_host: TestHost, payload: tuple[Path, str]
) -> None:
    path, digest = payload
    remote = f"{test_host.state_dir}/up/a.bin"
    calls: list[tuple[int, int]] = []
    session.upload(path, remote, sha256=digest, progress=lambda *c: calls.append(c))
    assert _remote_sha256(session, remote) == digest
    assert calls[-1] == (path.stat().st_size, path.stat().st_size)
    assert len(calls) > 3
    assert not session.run(["test", "-e", f"{remote}.part"]).succeeded


def test_upload_skips_a_file_already_there(
    session: SshSession, test_host: TestHost, payload: tuple[Path, str]
) -> None:
    path, digest = payload
    remote = f"{test_host.state_dir}/up/twice.bin"
    session.upload(path, remote, sha256=digest)
    calls: list[tuple[int, int]] = []
    session.upload(path, remote, sha256=digest, progress=lambda *c: calls.append(c))
    assert calls == [(path.stat().st_size, path.stat().st_size)]


def test_upload_wrong_checksum_raises_infra_error(
    session: SshSession, test_host: TestHost, payload: tuple[Path, str]
) -> None:
    path, _ = payload
    remote = f"{test_host.state_dir}/up/bad.bin"
    with pytest.raises(InfraError, match="arrived damaged"):
        session.upload(path, remote, sha256="0" * 64)
    assert not session.run(f"ls {remote}*").succeeded


def _cutting_progress(host: TestHost, at_fraction: float) -> Callable[[int, int], None]:
    state = {"cut": False}

    def progress(done: int, total: int) -> None:
        if not state["cut"] and done >= total * at_fraction:
            state["cut"] = True
            cut_connections(host)

    return progress


def test_upload_resumes_after_a_cut(
    cut_host: TestHost, payload: tuple[Path, str]
) -> None:
    path, digest = payload
    remote = f"{cut_host.state_dir}/up/resumed.bin"
    with _open(cut_host) as ssh:
        with pytest.raises(ConnectError, match="dropped"):
            ssh.upload(
                path,
                remote,
                sha256=digest,
                progress=_cutting_progress(cut_host, 0.4),
                attempts=1,
            )
        part = int(ssh.run(["wc", "-c", remote + ".part"]).stdout.split()[0])
        assert 0 < part < path.stat().st_size
        starts: list[int] = []
        ssh.upload(path, remote, sha256=digest, progress=lambda d, t: starts.append(d))
        assert starts[0] == part
        assert _remote_sha256(ssh, remote) == digest


def test_upload_retries_by_itself_after_a_cut(
    cut_host: TestHost, payload: tuple[Path, str]
) -> None:
    path, digest = payload
    with _open(cut_host) as ssh:
        ssh.upload(
            path,
            f"{cut_host.state_dir}/up/retried.bin",
            sha256=digest,
            progress=_cutting_progress(cut_host, 0.3),
        )
        assert _remote_sha256(ssh, f"{cut_host.state_dir}/up/retried.bin") == digest


def test_forward_port_reaches_a_server_on_the_hosts_loopback(
    session: SshSession, test_host: TestHost, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("hello from the test host\n")
    server = host_popen(
        test_host,
        ["busybox", "httpd", "-f", "-p", "127.0.0.1:18080", "-h", str(tmp_path)],
    )
    try:
        _wait_listening(test_host, 18080)
        with session.forward_port(18080) as local_port:
            url = f"http://127.0.0.1:{local_port}/index.html"
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.read() == b"hello from the test host\n"
    finally:
        server.kill()
        server.wait()


def _wait_listening(host: TestHost, port: int) -> None:
    for _ in range(50):
        if f":{port} " in host_run(host, ["ss", "-ltn"]).stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} in {host.namespace}")


def test_close_is_idempotent_and_later_use_fails(test_host: TestHost) -> None:
    ssh = _open(test_host)
    ssh.close()
    ssh.close()
    with pytest.raises(ConnectError, match="closed"):
        ssh.run("true")
