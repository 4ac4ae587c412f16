"""A TCP port on the host answers, reached through the session."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from siteproof.checks.base import (
    POLL_INTERVAL_S,
    CheckContext,
    Status,
    explain_refusal,
    remaining_s,
)

# NOTE: a published port is held open by docker-proxy (and an SSH forward by
# the SSH client) even when nothing in the container listens: the connection
# is accepted, then closed at once. So "open" means a connection that is not
# closed by the far side within this grace time.
EOF_GRACE_S = 0.75


@dataclass(frozen=True, slots=True)
class TcpCheck:
    """Require a host port to accept and keep a TCP connection."""

    port: int
    within_s: float = 60.0
    host: str = "127.0.0.1"

    @property
    def name(self) -> str:
        """Return e.g. ``tcp 8080``."""
        return f"tcp {self.port}"

    def evaluate(self, context: CheckContext) -> tuple[Status, str]:
        """Poll the port until it answers, the container stops, or time is up."""
        deadline = time.monotonic() + self.within_s
        last = "no attempt"
        with context.session.forward_port(self.port, self.host) as local_port:
            while True:
                last = probe_tcp(local_port, timeout_s=min(5.0, self.within_s))
                if not last:
                    return Status.PASS, f"port {self.port} answers"
                reason = context.stopped_reason()
                if reason or remaining_s(deadline) <= 0:
                    break
                time.sleep(min(POLL_INTERVAL_S, remaining_s(deadline)))
        hint = explain_refusal(last, reason)
        why = reason or f"not within {self.within_s:g} s" + (
            f" ({hint})" if hint else ""
        )
        return Status.FAIL, f"port {self.port} does not answer ({last}); {why}"


def probe_tcp(port: int, *, timeout_s: float, host: str = "127.0.0.1") -> str:
    """Return "" when *port* accepts and keeps a connection, else what went wrong."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            conn.settimeout(EOF_GRACE_S)
            try:
                data = conn.recv(1)
            except TimeoutError:
                return ""
            return "" if data else "connection closed at once"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
