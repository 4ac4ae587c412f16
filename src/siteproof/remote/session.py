"""SSH sessions to a host, built on asyncssh (the only module that imports it).

asyncssh was chosen over paramiko by measurement (bench/upload.py): through
one channel it moved 190-270 MB/s with AES-GCM, paramiko 135-195 MB/s; at
100 Mbit/s both fill the link. Its event loop runs in one background thread
per session; the public API is synchronous.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import shlex
import signal
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from siteproof.errors import CommandError, ConnectError, InfraError, InputError
from siteproof.remote import transfer
from siteproof.remote.base import CommandResult, ProgressCallback
from siteproof.remote.loop import LoopThread

log = logging.getLogger(__name__)

T = TypeVar("T")

ENCRYPTION_ALGS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)
KEEPALIVE_INTERVAL_S = 15
KEEPALIVE_COUNT_MAX = 4
CLOSE_TIMEOUT_S = 5.0
UPLOAD_ATTEMPTS = 3
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_ERRNO_CAUSES = {
    "ECONNREFUSED": "connection refused",
    "EHOSTUNREACH": "no route to host",
    "ENETUNREACH": "network unreachable",
    "EINVAL": "no route to host",
}


@dataclass(frozen=True)
class _Target:
    """Everything needed to (re)connect to one host."""

    host: str
    port: int
    user: str
    identity: Path | None
    known_hosts: Path
    accept_new_host_key: bool
    connect_timeout_s: float

    @property
    def description(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


class _HostKeyCheck(asyncssh.SSHClient):
    """Remember the key the server offered; accept it only when allowed."""

    def __init__(self, accept_unknown: bool) -> None:
        self.accept_unknown = accept_unknown
        self.offered: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Called for keys not in known_hosts: unknown, or changed."""
        self.offered = key
        return self.accept_unknown


def _fingerprint(key: asyncssh.SSHKey | None) -> str:
    return f"{key.get_algorithm()} {key.get_fingerprint()}" if key else "?"


def _read_known_hosts(target: _Target) -> tuple[asyncssh.SSHKnownHosts, bool]:
    """Load known_hosts; tell whether it has any key for the target."""
    try:
        text = target.known_hosts.read_text()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise InputError(
            f"cannot read known_hosts {target.known_hosts}: {exc}"
        ) from None
    try:
        known = asyncssh.import_known_hosts(text)
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise InputError(
            f"cannot parse known_hosts {target.known_hosts}: {exc}"
        ) from None
    matches = known.match(target.host, target.host, target.port)
    return known, bool(matches[0] or matches[1])


def _append_known_host(target: _Target, key: asyncssh.SSHKey) -> None:
    """Record a newly accepted host key the way OpenSSH does."""
    line = key.export_public_key("openssh").decode().split()[:2]
    target.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with target.known_hosts.open("a") as stream:
        stream.write(f"{target.known_hosts_name} {' '.join(line)}\n")
    log.warning(
        "added host key of %s (%s) to %s",
        target.host,
        _fingerprint(key),
        target.known_hosts,
    )


def _client_keys(identity: Path | None) -> list[asyncssh.SSHKey] | None:
    """Load the identity file; None lets asyncssh use the agent and default keys."""
    if identity is None:
        return None
    try:
        return [asyncssh.read_private_key(identity)]
    except (OSError, asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        raise InputError(
            f"cannot use SSH identity {identity}: {exc}",
            hint="give an unencrypted private key file (OpenSSH or PEM format)",
        ) from None


def _connect_options(target: _Target) -> dict[str, Any]:
    keys = _client_keys(target.identity)
    options: dict[str, Any] = {
        "port": target.port,
        "username": target.user,
        "config": None,
        "password_auth": False,
        "kbdint_auth": False,
        "gss_auth": False,
        "host_based_auth": False,
        "connect_timeout": target.connect_timeout_s,
        "login_timeout": target.connect_timeout_s,
        "keepalive_interval": KEEPALIVE_INTERVAL_S,
        "keepalive_count_max": KEEPALIVE_COUNT_MAX,
        "encryption_algs": list(ENCRYPTION_ALGS),
        "compression_algs": ["none"],
    }
    if keys is not None:
        options.update(client_keys=keys, agent_path=None)
    else:
        options["ignore_encrypted"] = True
    return options


def _connect_error(target: _Target, exc: BaseException) -> ConnectError:
    """Translate a failed connect into one line with a hint."""
    where = target.description
    if isinstance(exc, asyncssh.PermissionDenied):
        tried = target.identity or "the SSH agent and ~/.ssh/id_* keys"
        return ConnectError(
            f"{where} refused our SSH key ({tried})",
            hint="pass --identity with a key in the host's authorized_keys",
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ConnectError(
            f"no SSH answer from {where} within {target.connect_timeout_s:g} s",
            hint="check the address, that the host is up and port "
            f"{target.port} is open to this machine",
        )
    if isinstance(exc, OSError):
        cause = _ERRNO_CAUSES.get(_errno_name(exc), exc.strerror or str(exc))
        return ConnectError(
            f"cannot connect to {where}: {cause}",
            hint=f"check the address and that port {target.port} is open",
        )
    reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
    return ConnectError(f"SSH connection to {where} failed: {reason}")


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "")


def _host_key_error(target: _Target, offered: asyncssh.SSHKey | None) -> ConnectError:
    if offered is None:
        return ConnectError(
            f"host key of {target.host} could not be verified",
            hint=f"compare the key in {target.known_hosts} with the host's",
        )
    return ConnectError(
        f"host key of {target.host} CHANGED: it now offers {_fingerprint(offered)}"
        f", which does not match {target.known_hosts}",
        hint="someone may be intercepting; if the host was rebuilt, remove its "
        f"old line from {target.known_hosts}",
    )


async def _connect(
    target: _Target, pinned_key: asyncssh.SSHKey | None
) -> asyncssh.SSHClientConnection:
    """Open and authenticate one connection, checking the host key first."""
    if pinned_key is not None:
        known: Any = ([pinned_key], [], [])
        is_known = True
    else:
        known, is_known = _read_known_hosts(target)
    check = _HostKeyCheck(accept_unknown=target.accept_new_host_key and not is_known)
    options = _connect_options(target)
    try:
        conn, _ = await asyncssh.create_connection(
            lambda: check, target.host, known_hosts=known, **options
        )
    except asyncssh.HostKeyNotVerifiable:
        if is_known:
            raise _host_key_error(target, check.offered) from None
        raise _unknown_key_error(target, check.offered) from None
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise _connect_error(target, exc) from None
    if check.offered is not None and not is_known:
        _append_known_host(target, check.offered)
    return conn


def _unknown_key_error(
    target: _Target, offered: asyncssh.SSHKey | None
) -> ConnectError:
    return ConnectError(
        f"host key of {target.host} is not known ({_fingerprint(offered)} is not "
        f"in {target.known_hosts})",
        hint="pass --known-hosts with a file that holds the host's key, or "
        "--accept-new-host-key to trust and record it on first use",
    )


def open_session(
    host: str,
    *,
    port: int = 22,
    user: str = "root",
    identity: Path | None = None,
    known_hosts: Path | None = None,
    accept_new_host_key: bool = False,
    connect_timeout_s: float = 20.0,
) -> SshSession:
    """Connect to a host over SSH with key authentication.

    Args:
        host: name or address.
        port: SSH port.
        user: login name.
        identity: private key file; when None, the SSH agent and the default
            keys (~/.ssh/id_ed25519, id_ecdsa, id_rsa) are tried.
        known_hosts: file with trusted host keys (default ~/.ssh/known_hosts).
        accept_new_host_key: trust a host that known_hosts does not list yet
            and record its key there. A changed key is never accepted.
        connect_timeout_s: seconds to wait for the connection and login.

    Returns:
        The open session; close it with close().

    Raises:
        ConnectError: unreachable host, unknown or changed host key, key
            refused, timeout.
        InputError: unreadable identity or known_hosts file.
    """
    target = _Target(
        host=host,
        port=port,
        user=user,
        identity=identity,
        known_hosts=known_hosts or Path.home() / ".ssh" / "known_hosts",
        accept_new_host_key=accept_new_host_key,
        connect_timeout_s=connect_timeout_s,
    )
    loop = LoopThread(f"ssh-{target.description}")
    try:
        conn = loop.call(_connect(target, None))
    except BaseException:
        loop.stop()
        raise
    log.info("connected to %s", target.description)
    return SshSession(target, loop, conn)


class SshSession:
    """A live SSH connection; reconnects (same host key) after a drop."""

    def __init__(
        self,
        target: _Target,
        loop: LoopThread,
        conn: asyncssh.SSHClientConnection,
    ) -> None:
        self._target = target
        self._loop = loop
        self._conn: asyncssh.SSHClientConnection | None = conn
        self._host_key = conn.get_server_host_key()
        self._closed = False

    @property
    def description(self) -> str:
        """Return ``user@host:port``."""
        return self._target.description

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connection(self) -> asyncssh.SSHClientConnection:
        """Return the connection, reconnecting if it was lost."""
        if self._closed:
            raise ConnectError(f"session to {self.description} is closed")
        if self._conn is None or self._conn.is_closed():
            log.warning("connection to %s was lost; reconnecting", self.description)
            self._conn = self._loop.call(_connect(self._target, self._host_key))
        return self._conn

    def _lost(self, exc: BaseException) -> ConnectError:
        reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
        return ConnectError(
            f"connection to {self.description} dropped: {reason}",
            hint="check the network path to the host; retrying resumes uploads",
        )

    def run(
        self,
        command: str | Sequence[str],
        *,
        timeout_s: float | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run a command on the host and wait for it.

        Args:
            command: a shell string, or argv (quoted for the shell here).
            timeout_s: seconds before the command is abandoned; None waits.
            stdin: bytes fed to the command's standard input.

        Raises:
            CommandError: the command did not finish within ``timeout_s``.
            ConnectError: the connection dropped.
        """
        line = command if isinstance(command, str) else shlex.join(command)
        conn = self._connection()
        started = time.monotonic()
        log.debug("run on %s: %s", self.description, line)
        try:
            result = self._loop.call(
                conn.run(line, input=stdin, timeout=timeout_s, encoding=None)
            )
        except asyncssh.TimeoutError:
            raise CommandError(
                f"command timed out after {timeout_s:g} s on {self.description}",
                command=line,
                exit_status=None,
            ) from None
        except (OSError, asyncssh.Error) as exc:
            raise self._lost(exc) from None
        if _is_cut_off(conn, result):
            raise self._lost(ConnectionError("connection closed"))
        return _command_result(line, result, time.monotonic() - started)

    def upload(
        self,
        local_path: Path,
        remote_path: str,
        *,
        sha256: str,
        progress: ProgressCallback | None = None,
        attempts: int = UPLOAD_ATTEMPTS,
    ) -> None:
        """Copy a file to the host, resuming a partial copy, and verify it there.

        The bytes land in ``remote_path + ".part"``, are hashed with
        ``sha256sum`` on the host while they arrive, and the part is renamed
        to ``remote_path`` only when hash and size match. The file may travel
        compressed (zstd or gzip, if the host has them and it pays); what
        lands is the original.

        Args:
            local_path: the file to send.
            remote_path: absolute destination path on the host.
            sha256: the expected hex digest of the file.
            progress: called with (bytes done, bytes total) as it travels;
                after a resume, ``done`` starts at the bytes already there.
            attempts: tries in all; each retry reconnects and resumes.

        Raises:
            InfraError: the checksum on the host differs, or the host lacks
                ``sha256sum``.
            ConnectError: the connection dropped on the last attempt.
            InputError: the local file cannot be read, or ``sha256`` is not
                a hex digest.
        """
        if not SHA256_PATTERN.fullmatch(sha256.lower()):
            raise InputError(f"not a sha256 hex digest: {sha256!r}")
        try:
            total = local_path.stat().st_size
        except OSError as exc:
            raise InputError(f"cannot read {local_path}: {exc.strerror}") from None
        job = transfer.UploadJob(
            local_path, remote_path, sha256.lower(), total, progress
        )
        for attempt in range(1, attempts + 1):
            try:
                self._upload_once(job)
                return
            except ConnectError:
                if attempt >= attempts:
                    raise
                log.warning(
                    "upload to %s interrupted (attempt %d of %d); resuming",
                    self.description,
                    attempt,
                    attempts,
                )

    def _upload_once(self, job: transfer.UploadJob) -> None:
        started = time.monotonic()
        probe = self._checked(transfer.probe_script(job.remote_path), "prepare upload")
        state = transfer.parse_probe(probe.stdout)
        if "sha256sum" not in state.tools:
            raise InfraError(
                f"{self.description} has no sha256sum to verify the upload",
                hint="install GNU coreutils or busybox on the host",
            )
        if self._is_already_there(job, state):
            log.info("%s already on %s, verified", job.remote_path, self.description)
            job.report(job.total)
            return
        offset = self._resume_offset(job, state)
        sample = transfer.read_sample(job.local_path, offset)
        codec = transfer.choose_codec(state.tools, sample)
        log.debug("upload from byte %d, wire codec %s", offset, codec.name)
        self._check_receipt(job, self._stream(job, codec, offset))
        log.info(
            "uploaded %s (%.1f MB) to %s:%s in %.1f s, sha256 verified",
            job.local_path.name,
            job.total / 1e6,
            self.description,
            job.remote_path,
            time.monotonic() - started,
        )

    def _checked(self, script: str, what: str) -> CommandResult:
        result = self.run(script)
        if not result.succeeded:
            raise CommandError(
                f"could not {what} on {self.description}",
                command=script,
                exit_status=result.exit_status,
                stderr_tail=result.stderr_tail(),
            )
        return result

    def _is_already_there(
        self, job: transfer.UploadJob, state: transfer.RemoteState
    ) -> bool:
        if state.final_size != job.total:
            return False
        result = self.run(transfer.hash_script(job.remote_path))
        return result.succeeded and transfer.parse_hash(result.stdout) == job.sha256

    def _resume_offset(
        self, job: transfer.UploadJob, state: transfer.RemoteState
    ) -> int:
        """Return how many bytes of an earlier part can be kept (0 if none).

        The host hashes its part while this machine hashes the same prefix.
        """
        size = state.part_size
        if not size or size > job.total:
            return 0
        conn = self._connection()
        script = transfer.hash_script(job.remote_path + ".part", size)
        remote = self._loop.submit(conn.run(script, encoding="utf-8"))
        local = transfer.hash_prefix(job.local_path, size)
        try:
            result = remote.result()
        except (OSError, asyncssh.Error) as exc:
            raise self._lost(exc) from None
        if transfer.parse_hash(str(result.stdout)) != local:
            log.warning("partial upload on %s differs; starting over", self.description)
            return 0
        log.info("resuming upload to %s at %.1f MB", self.description, size / 1e6)
        return size

    def _stream(
        self, job: transfer.UploadJob, codec: transfer.WireCodec, offset: int
    ) -> transfer.Receipt:
        """Send the file from ``offset``; return what the host made of it."""
        conn = self._connection()
        script = transfer.receive_script(
            job.remote_path, codec, offset, job.sha256, job.total
        )
        try:
            process = self._loop.call(_open_process(conn, script))
        except (OSError, asyncssh.Error) as exc:
            raise self._lost(exc) from None
        try:
            _pump(self._loop, process, job, codec, offset)
            result = self._loop.call(process.wait())
        except (OSError, asyncssh.Error) as exc:
            raise self._lost(exc) from None
        finally:
            # Leaves a resumable part behind when the upload is abandoned.
            self._loop.loop.call_soon_threadsafe(process.close)
        if _is_cut_off(conn, result):
            raise self._lost(ConnectionError("connection closed"))
        if result.exit_status != 0:
            raise CommandError(
                f"receiving the upload failed on {self.description}",
                command=script,
                exit_status=result.exit_status,
                stderr_tail=_tail(_text(result.stderr)),
            )
        return transfer.parse_receipt(_text(result.stdout))

    def _check_receipt(
        self, job: transfer.UploadJob, receipt: transfer.Receipt
    ) -> None:
        """Raise (after deleting the part) unless the host verified and renamed it."""
        if receipt.renamed:
            return
        self.run(transfer.remove_part_script(job.remote_path))
        raise InfraError(
            f"upload to {self.description}:{job.remote_path} arrived damaged "
            f"(sha256 {receipt.sha256 or '?'}, {receipt.size} bytes; expected "
            f"{job.sha256}, {job.total} bytes)",
            hint="retry; if it repeats, check the host's disk and memory",
        )

    @contextmanager
    def _forward(self, remote_port: int, remote_host: str) -> Iterator[int]:
        conn = self._connection()
        try:
            listener = self._loop.call(_listen(conn, remote_port, remote_host))
        except (OSError, asyncssh.Error) as exc:
            raise ConnectError(
                f"cannot forward {remote_host}:{remote_port} on {self.description}:"
                f" {exc}"
            ) from None
        local_port = listener.get_port()
        log.debug(
            "forwarding 127.0.0.1:%d to %s:%d on %s",
            local_port,
            remote_host,
            remote_port,
            self.description,
        )
        try:
            yield local_port
        finally:
            listener.close()
            self._loop.call(listener.wait_closed())

    def forward_port(
        self, remote_port: int, remote_host: str = "127.0.0.1"
    ) -> AbstractContextManager[int]:
        """Make ``remote_host:remote_port`` (as seen by the host) reachable here.

        Returns:
            A context manager yielding the local port on 127.0.0.1.
        """
        return self._forward(remote_port, remote_host)

    def close(self) -> None:
        """Close the connection and stop its thread; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            future = self._loop.submit(conn.wait_closed())
            try:
                future.result(timeout=CLOSE_TIMEOUT_S)
            except (TimeoutError, OSError, asyncssh.Error):
                log.debug("closing %s did not finish cleanly", self.description)
        self._loop.stop()
        log.debug("closed %s", self.description)


def _tail(text: str, lines: int = 10) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _pump(
    loop: LoopThread,
    process: asyncssh.SSHClientProcess[bytes],
    job: transfer.UploadJob,
    codec: transfer.WireCodec,
    offset: int,
) -> None:
    """Compress in this thread while the loop thread encrypts and sends.

    One write is in flight while the next chunk is read and compressed.
    """
    compress = codec.new_compressor()
    pending: Future[None] | None = None
    done = offset
    job.report(done)
    for chunk in transfer.read_chunks(job.local_path, offset):
        packed = compress(chunk)
        if pending is not None:
            pending.result()
        pending = loop.submit(_send(process, packed))
        done += len(chunk)
        job.report(done)
    if pending is not None:
        pending.result()
    loop.call(_send(process, compress(None), eof=True))


async def _open_process(
    conn: asyncssh.SSHClientConnection, script: str
) -> asyncssh.SSHClientProcess[bytes]:
    return await conn.create_process(script, encoding=None)


async def _listen(
    conn: asyncssh.SSHClientConnection, remote_port: int, remote_host: str
) -> asyncssh.SSHListener:
    return await conn.forward_local_port("127.0.0.1", 0, remote_host, remote_port)


async def _send(
    process: asyncssh.SSHClientProcess[bytes], data: bytes, *, eof: bool = False
) -> None:
    if data:
        process.stdin.write(data)
        await process.stdin.drain()
    if eof:
        process.stdin.write_eof()


def _command_result(
    line: str, result: asyncssh.SSHCompletedProcess, duration_s: float
) -> CommandResult:
    return CommandResult(
        command=line,
        exit_status=_exit_status(result),
        stdout=_text(result.stdout),
        stderr=_text(result.stderr),
        duration_s=duration_s,
    )


def _exit_status(result: asyncssh.SSHCompletedProcess) -> int:
    """Return the status as a shell shows it: 128 + N after signal N."""
    if result.exit_status is not None and result.exit_status >= 0:
        return result.exit_status
    if result.exit_signal is not None:
        name = str(result.exit_signal[0])
        with contextlib.suppress(KeyError):
            return 128 + signal.Signals[f"SIG{name}"].value
    return 255


def _is_cut_off(
    conn: asyncssh.SSHClientConnection, result: asyncssh.SSHCompletedProcess
) -> bool:
    """Tell whether a command ended because the connection went away."""
    no_status = result.exit_status in (None, -1) and result.exit_signal is None
    return no_status and conn.is_closed()


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


__all__ = ["SshSession", "open_session"]
