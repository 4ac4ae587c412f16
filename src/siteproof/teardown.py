"""Remove what a run created on the host: always, once, in reverse order.

Each resource is registered the moment it exists, with a shell command that
removes it and succeeds when it is removed or already gone. All pending
removals travel to the host as one script, so a slow link pays one
round-trip, and each resource still gets its own verdict. Running the
teardown twice is harmless.
"""

from __future__ import annotations

import logging
import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from siteproof.errors import ConnectError, InfraError
from siteproof.remote.base import Session
from siteproof.signals import shielded_from_signals

log = logging.getLogger(__name__)

TEARDOWN_TIMEOUT_S = 300.0
# Pauses before trying the removal again after the connection failed.
TEARDOWN_RETRY_PAUSES_S = (2.0, 5.0, 10.0)
_RESULT = re.compile(r"^@@(\d+) (\d+) ?(.*)$", re.MULTILINE)
_GONE = "2>&1 | grep -qiE 'no such|not found'"


def remove_container_command(name: str) -> str:
    """Return the command removing a container and its anonymous volumes."""
    quoted = shlex.quote(name)
    return f"docker rm -f -v {quoted} || docker container inspect {quoted} {_GONE}"


def remove_image_command(reference: str) -> str:
    """Return the command removing an image or one of its tags."""
    quoted = shlex.quote(reference)
    return f"docker rmi {quoted} || docker image inspect {quoted} {_GONE}"


def remove_network_command(name: str) -> str:
    """Return the command removing a network."""
    quoted = shlex.quote(name)
    return f"docker network rm {quoted} || docker network inspect {quoted} {_GONE}"


def remove_volume_command(name: str) -> str:
    """Return the command removing a named volume."""
    quoted = shlex.quote(name)
    return f"docker volume rm {quoted} || docker volume inspect {quoted} {_GONE}"


def remove_path_command(path: str) -> str:
    """Return the command removing a file or folder tree."""
    return f"rm -rf -- {shlex.quote(path)}"


def delete_rule_command(prefix: Sequence[str], chain: str, rule: Sequence[str]) -> str:
    """Return the command deleting an iptables rule; succeeds when none is left.

    ``iptables -C`` exits 1 when the rule does not exist.
    """
    base = shlex.join(prefix)
    spec = shlex.join([chain, *rule])
    return f"{base} -D {spec}; {base} -C {spec} 2>/dev/null; [ $? -eq 1 ]"


@dataclass(slots=True)
class Resource:
    """One thing the run created, and the shell command that removes it."""

    kind: str  # container, network, firewall rule, image, tag, folder
    ident: str
    command: str
    removed: bool = False

    def __str__(self) -> str:
        return f"{self.kind} {self.ident}"


@dataclass(slots=True)
class Teardown:
    """The resources of one run, removed last-created first."""

    resources: list[Resource] = field(default_factory=list)

    def add(self, kind: str, ident: str, command: str) -> None:
        """Register a resource right after it was created."""
        log.debug("created %s %s", kind, ident)
        self.resources.append(Resource(kind, ident, command))

    def describe(self) -> list[str]:
        """Return the resources still in place, oldest first."""
        return [str(r) for r in self.resources if not r.removed]

    def run(self, session: Session | None) -> list[str]:
        """Remove every resource; return those that could not be removed."""
        pending = [r for r in reversed(self.resources) if not r.removed]
        if not pending:
            return []
        if session is None:
            return [f"{r} (no connection to the host)" for r in pending]
        with shielded_from_signals():
            for pause_s in (*TEARDOWN_RETRY_PAUSES_S, None):
                try:
                    result = session.run(_script(pending), timeout_s=TEARDOWN_TIMEOUT_S)
                    break
                except InfraError as exc:
                    # A dropped connection is often back seconds later (the
                    # session reconnects); the removal script is idempotent.
                    if pause_s is None or not isinstance(exc, ConnectError):
                        return [f"{r} ({exc.message})" for r in pending]
                    log.warning("teardown: %s; trying again in %.0f s", exc, pause_s)
                    time.sleep(pause_s)
        return self._judge(pending, result.stdout)

    def _judge(self, pending: list[Resource], output: str) -> list[str]:
        outcomes = {int(m[1]): (int(m[2]), m[3]) for m in _RESULT.finditer(output)}
        leftovers = []
        for index, resource in enumerate(pending):
            status, last_line = outcomes.get(index, (-1, "not attempted"))
            if status == 0:
                resource.removed = True
                log.info("removed %s", resource)
                continue
            log.warning("could not remove %s: %s", resource, last_line)
            leftovers.append(f"{resource} ({last_line})")
        return leftovers


def _script(pending: list[Resource]) -> str:
    """Return one shell script that tries every removal and reports each."""
    lines = [
        f"out=$( ( {resource.command} ) 2>&1 ); rc=$?; "
        f'printf "@@{index} %d %s\\n" "$rc" "$(printf %s "$out" | tail -n 1)"'
        for index, resource in enumerate(pending)
    ]
    return "\n".join(lines) + "\n"
