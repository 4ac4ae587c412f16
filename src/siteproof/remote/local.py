"""The Session protocol on this machine: ``--target local``."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from siteproof.archive.streams import sha256_of_file
from siteproof.errors import InfraError
from siteproof.remote.base import CommandResult, ProgressCallback

log = logging.getLogger(__name__)

CHUNK_BYTES = 4 * 1024 * 1024
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class LocalSession:
    """Run commands with the local shell and copy files on the local disk."""

    @property
    def description(self) -> str:
        """Return ``local``."""
        return "local"

    def run(
        self,
        command: str | Sequence[str],
        *,
        timeout_s: float | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run a shell command (argv is quoted for the shell first).

        Raises:
            InfraError: when the command does not finish within *timeout_s*.
        """
        text = command if isinstance(command, str) else shlex.join(command)
        log.debug("local: %s", text)
        started = time.monotonic()
        try:
            done = subprocess.run(
                text,
                shell=True,
                input=stdin if stdin is not None else b"",
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InfraError(
                f"command did not finish within {timeout_s:.0f} s: {text}"
            ) from None
        return CommandResult(
            command=text,
            exit_status=done.returncode,
            stdout=done.stdout.decode("utf-8", errors="replace"),
            stderr=done.stderr.decode("utf-8", errors="replace"),
            duration_s=time.monotonic() - started,
        )

    def upload(
        self,
        local_path: Path,
        remote_path: str,
        *,
        sha256: str,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Copy a file, continuing a partial copy, then verify its sha256.

        Raises:
            InfraError: when the copy fails or the checksum differs.
        """
        total = local_path.stat().st_size
        target = Path(remote_path)
        if target.exists() and target.samefile(local_path):
            raise InfraError(f"cannot copy {local_path} onto itself")
        offset = _resume_offset(target, total)
        # NOTE: a resumed copy whose old part is corrupt gets one fresh try.
        for start in dict.fromkeys((offset, 0)):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_from(local_path, target, start, progress)
            except OSError as exc:
                raise InfraError(
                    f"cannot copy {local_path} to {target}: {exc}"
                ) from None
            actual = sha256_of_file(target)
            if actual == sha256:
                log.info("copied %s to %s, sha256 verified", local_path.name, target)
                return
        target.unlink(missing_ok=True)
        raise InfraError(
            f"{target}: sha256 {actual[:12]} differs from {sha256[:12]} after copy"
        )

    @contextmanager
    def forward_port(
        self, remote_port: int, remote_host: str = "127.0.0.1"
    ) -> Iterator[int]:
        """Yield the port itself: the host is this machine.

        Raises:
            InfraError: when *remote_host* is not a loopback address.
        """
        if remote_host not in _LOOPBACK:
            raise InfraError(f"local session forwards loopback only, not {remote_host}")
        yield remote_port

    def close(self) -> None:
        """Do nothing: there is no connection."""


def _resume_offset(target: Path, total: int) -> int:
    """Return how many bytes of an earlier partial copy can be kept."""
    try:
        size = target.stat().st_size
    except FileNotFoundError:
        return 0
    return size if size <= total else 0


def _copy_from(
    source: Path, target: Path, offset: int, progress: ProgressCallback | None
) -> None:
    total = source.stat().st_size
    if offset:
        log.info("resuming copy of %s at byte %d", source.name, offset)
    mode = "r+b" if offset else "wb"
    with source.open("rb") as reader, target.open(mode) as writer:
        reader.seek(offset)
        writer.seek(offset)
        writer.truncate()
        done = offset
        while chunk := reader.read(CHUNK_BYTES):
            writer.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        writer.flush()
        os.fsync(writer.fileno())
    if progress is not None and total == 0:
        progress(0, 0)
