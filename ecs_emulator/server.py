"""The HTTP server on 127.0.0.1 and the handle tests hold while it runs."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from ecs_emulator import catalog
from ecs_emulator.actions.network_actions import seed_default_network
from ecs_emulator.clock import EmulatorClock
from ecs_emulator.dispatch import Dispatcher, Reply
from ecs_emulator.faults import Faults
from ecs_emulator.hosts import HostFactory, UnansweredAddressFactory
from ecs_emulator.signature import SignedRequest
from ecs_emulator.state import Delays, EmulatorState

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DEFAULT_ACCESS_KEYS = {"test-ak": "test-secret"}
MAX_REQUEST_LINE = 1024 * 1024  # UserData travels in the query string
ADMIN_PREFIX = "/_emulator/"
IDLE_CONNECTION_TIMEOUT_S = 30
SHUTDOWN_POLL_S = 0.05


class _Handler(BaseHTTPRequestHandler):
    """One HTTP connection; the dispatcher does the ECS work."""

    protocol_version = "HTTP/1.1"
    server_version = "ecs-emulator"
    timeout = IDLE_CONNECTION_TIMEOUT_S
    server: _EmulatorHTTPServer

    def setup(self) -> None:
        """Turn off Nagle: headers and body go out in separate writes."""
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        """Like the base class, but accept request lines up to 1 MiB."""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            if self.command not in ("GET", "POST"):
                self.send_error(HTTPStatus.NOT_IMPLEMENTED)
                return
            self._serve()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith(ADMIN_PREFIX):
            self._send(self.server.admin(url.path))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        form: dict[str, str] = {}
        if headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        request = SignedRequest(
            method=self.command,
            path=url.path or "/",
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            form=form,
            headers=headers,
            body=body,
        )
        self._send(self.server.dispatcher.handle(request))

    def _send(self, reply: Reply) -> None:
        payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Send access logs to ``logging`` at DEBUG instead of stderr."""
        log.debug("%s - %s", self.address_string(), format % args)


class _EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, dispatcher: Dispatcher, state: EmulatorState) -> None:
        super().__init__((LOOPBACK, port), _Handler)
        self.dispatcher = dispatcher
        self.state = state

    def admin(self, path: str) -> Reply:
        """Answer ``GET /_emulator/resources`` with what is still alive."""
        if path.rstrip("/") == ADMIN_PREFIX + "resources":
            return Reply(200, asdict(self.state.live_resources()))
        return Reply(404, {"Code": "NotFound", "Message": f"no admin path {path}"})


class EmulatorHandle:
    """A running emulator; stop it with ``stop()`` or use it as a context."""

    def __init__(
        self,
        server: _EmulatorHTTPServer,
        state: EmulatorState,
        access_keys: Mapping[str, str],
    ) -> None:
        self._server = server
        self.state = state
        self.faults = state.faults
        self.clock = state.clock
        self.host_factory = state.host_factory
        self.access_keys = dict(access_keys)
        self.region = state.region
        self.port: int = server.server_address[1]
        self.endpoint = f"{LOOPBACK}:{self.port}"
        self.url = f"http://{self.endpoint}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_S},
            name="ecs-emulator-http",
            daemon=True,
        )
        self._stopped = False

    def start(self) -> None:
        """Serve requests and run the lifecycle ticker."""
        self._thread.start()
        self.state.start_ticker()
        log.info("ECS emulator listening on %s", self.endpoint)

    def stop(self) -> None:
        """Stop serving, then destroy every host that is still up."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.state.shutdown()
        log.info("ECS emulator on %s stopped", self.endpoint)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulator(
    *,
    port: int = 0,
    access_keys: Mapping[str, str] | None = None,
    host_factory: HostFactory | None = None,
    region: str = "cn-hangzhou",
    delays: Delays | None = None,
    default_vpc: bool = True,
    default_vswitch_zones: Iterable[str] | None = None,
) -> EmulatorHandle:
    """Start an ECS API emulator on 127.0.0.1 and return its handle.

    Args:
        port: TCP port; 0 picks a free one.
        access_keys: ``{access_key_id: secret}`` accepted by the signature
            check; defaults to ``DEFAULT_ACCESS_KEYS``.
        host_factory: Builds the host behind a Running instance; None gives
            addresses that nothing answers on.
        region: The main region (every catalog region works).
        delays: Lifecycle phase durations.
        default_vpc: Whether the account has a default VPC in every region.
        default_vswitch_zones: Zones with a default vSwitch; None for all.

    Returns:
        The running emulator.

    Raises:
        ValueError: ``region`` is not in the catalog.
    """
    if catalog.find_region(region) is None:
        raise ValueError(f"unknown region {region!r}")
    keys = dict(access_keys or DEFAULT_ACCESS_KEYS)
    state = EmulatorState(
        clock=EmulatorClock(),
        faults=Faults(),
        delays=delays or Delays(),
        host_factory=host_factory or UnansweredAddressFactory(),
        region=region,
    )
    zones = None if default_vswitch_zones is None else set(default_vswitch_zones)
    seed_default_network(state, default_vpc=default_vpc, vswitch_zones=zones)
    server = _EmulatorHTTPServer(port, Dispatcher(state, keys), state)
    handle = EmulatorHandle(server, state, keys)
    handle.start()
    return handle
