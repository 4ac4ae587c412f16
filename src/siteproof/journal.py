"""A local journal of what each cloud run rented, written as it happens.

Every run appends JSON lines to ``<state dir>/runs/<run-id>.jsonl``: the
ClientToken before RunInstances is sent, each resource the moment its id is
known, each release, and a final line when nothing is left. Each line is
flushed and fsynced, so a run killed with SIGKILL still leaves a record that
``siteproof cleanup`` can act on.

The state dir is ``$SITEPROOF_STATE_DIR`` when set (tests), otherwise
``$XDG_STATE_HOME/siteproof`` or ``~/.local/state/siteproof``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from siteproof.errors import InputError

log = logging.getLogger(__name__)

# Kinds of resources, in the order they must be released.
RELEASE_ORDER = ("instance", "security_group", "key_pair", "vswitch", "vpc")


def state_dir() -> Path:
    """Return the directory where siteproof keeps run journals and keys."""
    override = os.environ.get("SITEPROOF_STATE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "siteproof"


def runs_dir() -> Path:
    """Return the directory holding one ``<run-id>.jsonl`` per run."""
    return state_dir() / "runs"


@dataclass(frozen=True, slots=True)
class Resource:
    """One thing a run created in the cloud."""

    kind: str
    id: str
    region: str

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class Journal:
    """Append-only record of one run; every write reaches the disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def start(cls, run_id: str, *, region: str, endpoint: str) -> Journal:
        """Create the journal of a new run.

        Raises:
            InputError: when the state dir cannot be written.
        """
        directory = runs_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise InputError(
                f"cannot create the run journal directory {directory}: {exc}",
                hint="set SITEPROOF_STATE_DIR to a writable directory",
            ) from None
        journal = cls(directory / f"{run_id}.jsonl")
        journal.append(
            "run-started",
            run_id=run_id,
            region=region,
            endpoint=endpoint,
            pid=os.getpid(),
            hostname=socket.gethostname(),
        )
        return journal

    def append(self, event: str, **fields: Any) -> None:
        """Write one event line and fsync it."""
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds")}
        record |= {"event": event, **fields}
        line = json.dumps(record, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def record_token(self, token: str, *, action: str) -> None:
        """Note a ClientToken before the request that carries it is sent."""
        self.append("client-token", token=token, action=action)

    def record_created(self, resource: Resource) -> None:
        """Note a resource as soon as its id is known."""
        self.append(
            "created", kind=resource.kind, id=resource.id, region=resource.region
        )

    def record_released(self, resource: Resource) -> None:
        """Note that a resource is gone."""
        self.append("released", kind=resource.kind, id=resource.id)

    def record_kept(self, reason: str) -> None:
        """Note that the run ended but left its resources on purpose."""
        self.append("kept", reason=reason)

    def finish(self) -> None:
        """Note that the run left nothing behind."""
        self.append("finished")


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What a journal file says about one run."""

    run_id: str
    path: Path
    region: str
    endpoint: str
    pid: int
    hostname: str
    started_at: str
    tokens: tuple[str, ...] = ()
    left: tuple[Resource, ...] = ()
    is_finished: bool = False
    is_kept: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        """Tell whether the process that wrote this journal still runs here."""
        if self.is_finished or self.hostname != socket.gethostname():
            return False
        return _pid_alive(self.pid) and self.pid != os.getpid()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_run(path: Path) -> RunRecord:
    """Replay one journal file; a torn last line (SIGKILL) is ignored."""
    events = list(_read_events(path))
    start = events[0] if events and events[0].get("event") == "run-started" else {}
    created: dict[tuple[str, str], Resource] = {}
    tokens: list[str] = []
    state = {"finished": False, "kept": False}
    for event in events:
        kind = event.get("event")
        if kind == "created":
            resource = Resource(
                event["kind"], event["id"], event.get("region", start.get("region", ""))
            )
            created[(resource.kind, resource.id)] = resource
        elif kind == "released":
            created.pop((event["kind"], event["id"]), None)
        elif kind == "client-token":
            tokens.append(event["token"])
        elif kind in ("finished", "kept"):
            state[kind] = True
    return RunRecord(
        run_id=start.get("run_id", path.stem),
        path=path,
        region=start.get("region", ""),
        endpoint=start.get("endpoint", ""),
        pid=int(start.get("pid", 0)),
        hostname=start.get("hostname", ""),
        started_at=start.get("at", ""),
        tokens=tuple(tokens),
        left=tuple(sorted(created.values(), key=_release_rank)),
        is_finished=state["finished"] and not created,
        is_kept=state["kept"],
    )


def _release_rank(resource: Resource) -> tuple[int, str]:
    rank = RELEASE_ORDER.index(resource.kind) if resource.kind in RELEASE_ORDER else 99
    return rank, resource.id


def _read_events(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("cannot read journal %s: %s", path, exc)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            log.debug("skipping a torn line %d in %s", number, path)
            continue
        if isinstance(event, dict) and "event" in event:
            yield event


def open_runs() -> list[RunRecord]:
    """Return every run whose journal does not say it left nothing behind."""
    directory = runs_dir()
    if not directory.is_dir():
        return []
    records = (read_run(path) for path in sorted(directory.glob("*.jsonl")))
    return [record for record in records if not record.is_finished]
