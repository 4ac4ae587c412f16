"""An HTTP endpoint on the host answers with the expected status and body."""

from __future__ import annotations

import http.client
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from siteproof.checks.base import (
    POLL_INTERVAL_S,
    CheckContext,
    Status,
    explain_refusal,
    remaining_s,
)

BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpCheck:
    """GET a URL as the host sees it, until it answers as expected.

    Attributes:
        url: e.g. ``http://127.0.0.1:8501/health``; host and port are the
            host's view, reached through ``Session.forward_port``.
        status: the expected status code.
        body: a regular expression the body must match, if any.
        within_s: how long the app may take to answer.
    """

    url: str
    status: int = 200
    body: str = ""
    within_s: float = 60.0

    @property
    def name(self) -> str:
        """Return e.g. ``http 127.0.0.1:8080/health``."""
        parts = urlsplit(self.url)
        return f"http {parts.netloc}{parts.path or '/'}"

    def evaluate(self, context: CheckContext) -> tuple[Status, str]:
        """Poll the URL until it answers well, the container stops, or time is up."""
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            return Status.ERROR, f"only http:// URLs are supported, got {self.url}"
        deadline = time.monotonic() + self.within_s
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        remote_port = parts.port or 80
        with context.session.forward_port(
            remote_port, parts.hostname or "127.0.0.1"
        ) as port:
            while True:
                ok, last = self._attempt(port, parts.netloc, path)
                if ok:
                    return Status.PASS, last
                reason = context.stopped_reason()
                if reason or remaining_s(deadline) <= 0:
                    break
                time.sleep(min(POLL_INTERVAL_S, remaining_s(deadline)))
        hint = explain_refusal(last, reason)
        why = reason or f"not within {self.within_s:g} s" + (
            f" ({hint})" if hint else ""
        )
        return Status.FAIL, f"{self.url}: {last}; {why}"

    def _attempt(self, port: int, netloc: str, path: str) -> tuple[bool, str]:
        """GET once; return whether it matched and what happened."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10.0)
        try:
            conn.request("GET", path, headers={"Host": netloc})
            response = conn.getresponse()
            text = response.read(BODY_BYTES).decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            return False, f"no answer ({exc or type(exc).__name__})"
        finally:
            conn.close()
        if response.status != self.status:
            return False, f"status {response.status}, expected {self.status}"
        if self.body and not re.search(self.body, text):
            return False, f"status {response.status} but body lacks /{self.body}/"
        return True, f"status {response.status}"
