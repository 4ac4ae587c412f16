"""The TCP and HTTP probes against real sockets on loopback."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from siteproof.checks.base import (
    LOOPBACK_HINT,
    CheckContext,
    Status,
    explain_refusal,
    run_check,
)
from siteproof.checks.http import HttpCheck
from siteproof.checks.tcp import probe_tcp
from siteproof.remote.docker import DockerEngine
from siteproof.remote.local import LocalSession


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}' if self.path == "/health" else b"nope"
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    yield from _serve(_Health)


@pytest.fixture
def context() -> CheckContext:
    session = LocalSession()
    return CheckContext(session, DockerEngine(session), "none", time.monotonic())


def test_probe_tcp_accepts_a_listener_that_keeps_the_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        assert probe_tcp(port, timeout_s=2) == ""


def test_probe_tcp_reports_a_proxy_that_closes_at_once() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def accept_and_close() -> None:
        conn, _ = server.accept()
        conn.close()

    threading.Thread(target=accept_and_close, daemon=True).start()
    try:
        assert probe_tcp(port, timeout_s=2) == "connection closed at once"
    finally:
        server.close()


def test_probe_tcp_reports_refused_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    # the listener is gone: nothing accepts any more

    assert "refused" in probe_tcp(port, timeout_s=2).lower()


def test_explain_refusal_names_loopback_only_listener() -> None:
    assert explain_refusal("connection closed at once", None) == LOOPBACK_HINT
    assert explain_refusal("connection closed at once", "exited") == ""
    assert explain_refusal("timed out", None) == ""


def test_http_check_passes_on_status_and_body(
    http_port: int, context: CheckContext
) -> None:
    check = HttpCheck(f"http://127.0.0.1:{http_port}/health", body=r'"status": "ok"')

    result = run_check(check, context)

    assert result.status is Status.PASS
    assert result.detail == "status 200"


def test_http_check_rejects_unsupported_scheme(context: CheckContext) -> None:
    result = run_check(HttpCheck("https://127.0.0.1/"), context)

    assert result.status is Status.ERROR
    assert "only http://" in result.detail


class _Broken:
    name = "broken"

    def evaluate(self, context: CheckContext) -> tuple[Status, str]:
        raise RuntimeError("boom")


def test_run_check_turns_an_exception_into_error(context: CheckContext) -> None:
    result = run_check(_Broken(), context)

    assert result.status is Status.ERROR
    assert result.detail == "RuntimeError: boom"
    assert result.duration_s >= 0
