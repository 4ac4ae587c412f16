"""Test hosts: a network namespace with its own OpenSSH server and Docker engine.

A test host looks like a freshly booted cloud VM: reachable over SSH at
198.51.100.N, an empty Docker engine, no way out. See shared/test-hosts.md.

Library use::

    number = claim_host_number()
    host = create_test_host(number, tmp_dir)
    try:
        host_run(host, ["docker", "ps"])
    finally:
        destroy_test_host(host)

Pytest use: the session-scoped ``test_host`` fixture (one host) and
``test_host_factory`` (call it for more; all are destroyed at session end).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

log = logging.getLogger(__name__)

NETWORK = "198.51.100.0/24"
ROOT_SIDE_ADDRESS = "198.51.100.1"
FIRST_NUMBER = 2
LAST_NUMBER = 250
REGISTRY_DIR = Path("/run/siteproof-testhosts")
NETNS_DIR = Path("/var/run/netns")
REQUIRED_TOOLS = ("ip", "sshd", "ssh-keygen", "dockerd", "docker", "nsenter", "tc")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
MAX_SOCKET_PATH = 100

# Daemons this process started, by pid, so that stopped ones get reaped.
_DAEMONS: dict[int, subprocess.Popen[bytes]] = {}


class TestHostError(RuntimeError):
    """A test host could not be created or removed."""


@dataclass(frozen=True)
class TestHost:
    """One running test host and everything needed to reach it."""

    __test__ = False  # not a test class, even when imported into a test module

    number: int
    address: str
    port: int
    user: str
    state_dir: Path
    client_key: Path
    known_hosts: Path
    known_hosts_line: str
    host_public_key: str
    docker_socket: Path
    sshd_pid: int
    dockerd_pid: int

    @property
    def namespace(self) -> str:
        """Return the network namespace name, ``sp-N``."""
        return f"sp-{self.number}"

    @property
    def host_veth(self) -> str:
        """Return the root-side veth name, ``sp-hN``."""
        return f"sp-h{self.number}"

    @property
    def inner_veth(self) -> str:
        """Return the namespace-side veth name, ``sp-iN``."""
        return f"sp-i{self.number}"

    @property
    def docker_host(self) -> str:
        """Return the ``DOCKER_HOST`` value for this host's engine."""
        return f"unix://{self.docker_socket}"

    @property
    def target(self) -> str:
        """Return ``ssh://root@198.51.100.N``."""
        return f"ssh://{self.user}@{self.address}"


# --- small process helpers -------------------------------------------------


def _run(
    args: Sequence[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a local command, raising TestHostError with its stderr on failure."""
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise TestHostError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def _is_alive(pid: int) -> bool:
    """Tell whether a process exists (zombies count as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    """Return a process's command line joined by spaces, or ''."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _children(pid: int) -> list[int]:
    """Return the direct children of a process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    """Return every descendant of a process, children first."""
    result: list[int] = []
    queue = [pid]
    while queue:
        kids = _children(queue.pop())
        result.extend(kids)
        queue.extend(kids)
    return result


def _stop_pid(pid: int, marker: str, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop a process we started: TERM, wait, then KILL it and its descendants.

    ``marker`` must appear in its command line, so a reused pid is never hit.
    """
    if pid <= 0 or not _is_alive(pid) or marker not in _cmdline(pid):
        return
    family = _descendants(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for victim in [pid, *family]:
        if _is_alive(victim):
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
    _reap(pid)


def _kill_marked(marker: str) -> None:
    """Kill leftovers of a killed dockerd: containerd shims naming its exec root."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and marker in _cmdline(int(entry.name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


# --- registry: host numbers shared by concurrent test sessions -------------


@contextlib.contextmanager
def _registry_lock() -> Iterator[None]:
    """Hold the machine-wide lock over host numbers and the blackhole route."""
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    with open(REGISTRY_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _record_path(number: int) -> Path:
    return REGISTRY_DIR / f"sp-{number}.json"


def _read_record(number: int) -> dict[str, object] | None:
    try:
        return dict(json.loads(_record_path(number).read_text()))
    except (OSError, ValueError):
        return None


def _write_record(number: int, **fields: object) -> None:
    record = _read_record(number) or {}
    record.update(fields)
    _record_path(number).write_text(json.dumps(record))


def _existing_namespaces() -> set[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _start_time(pid: int) -> int:
    """Return a process's start time in clock ticks since boot, or -1."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[19])


def _owner() -> dict[str, object]:
    return {"owner_pid": os.getpid(), "owner_start": _start_time(os.getpid())}


def _owner_alive(record: dict[str, object]) -> bool:
    """Tell whether the recorded owner still runs (not a reused pid)."""
    owner = record.get("owner_pid")
    if not isinstance(owner, int) or not _is_alive(owner):
        return False
    return record.get("owner_start") in (None, _start_time(owner))


def claim_host_number() -> int:
    """Reserve a free host number for this process (2..250).

    Numbers held by live processes are skipped; hosts left by dead processes
    are torn down and their numbers reused.
    """
    with _registry_lock():
        namespaces = _existing_namespaces()
        for number in range(FIRST_NUMBER, LAST_NUMBER + 1):
            record = _read_record(number)
            if record is not None and not _owner_alive(record):
                _reclaim_stale(number, record)
                record = _read_record(number)
                namespaces = _existing_namespaces()
            if record is None and f"sp-{number}" not in namespaces:
                _write_record(number, **_owner())
                return number
    raise TestHostError("no free test host number in 2..250")


def release_host_number(number: int) -> None:
    """Give back a number claimed by this process."""
    with _registry_lock():
        record = _read_record(number)
        if record is not None and record.get("owner_pid") == os.getpid():
            _record_path(number).unlink(missing_ok=True)


def _reclaim_stale(number: int, record: dict[str, object]) -> None:
    """Tear down what a dead test session left behind for this number."""
    log.warning("removing stale test host sp-%d (owner %s)", number, record)
    state_dir = str(record.get("state_dir", ""))
    for key in ("dockerd_pid", "sshd_pid"):
        pid = record.get(key)
        if isinstance(pid, int) and state_dir:
            _stop_pid(pid, state_dir)
    _remove_network(number)
    exec_root = _exec_root(number)
    _kill_marked(f"{exec_root}/")
    _unmount_below(exec_root)
    shutil.rmtree(exec_root, ignore_errors=True)
    if state_dir:
        _unmount_below(Path(state_dir))
    _record_path(number).unlink(missing_ok=True)


# --- network ----------------------------------------------------------------


def _has_blackhole() -> bool:
    out = _run(["ip", "route", "show", "type", "blackhole"], check=False).stdout
    return any(line.split()[-1] == NETWORK for line in out.splitlines() if line)


def ensure_blackhole_route() -> bool:
    """Add ``blackhole 198.51.100.0/24`` unless present; tell whether we added it."""
    with _registry_lock():
        if _has_blackhole():
            return False
        _run(["ip", "route", "add", "blackhole", NETWORK])
        return True


def remove_blackhole_route_if_unused() -> None:
    """Remove the blackhole route, but only while no test host is registered."""
    with _registry_lock():
        if any(REGISTRY_DIR.glob("sp-*.json")):
            return
        _run(["ip", "route", "del", "blackhole", NETWORK], check=False)


def _create_network(number: int) -> None:
    ns, outer, inner = f"sp-{number}", f"sp-h{number}", f"sp-i{number}"
    address = f"198.51.100.{number}"
    in_ns = ["ip", "netns", "exec", ns]
    # A veth left by a crashed run under this (now ours) number would block us.
    _run(["ip", "link", "del", outer], check=False)
    steps = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner],
        ["ip", "link", "set", inner, "netns", ns],
        ["ip", "addr", "add", f"{ROOT_SIDE_ADDRESS}/32", "dev", outer],
        ["ip", "link", "set", outer, "up"],
        ["ip", "route", "add", f"{address}/32", "dev", outer],
        [*in_ns, "ip", "addr", "add", f"{address}/32", "dev", inner],
        [*in_ns, "ip", "link", "set", inner, "up"],
        [*in_ns, "ip", "link", "set", "lo", "up"],
        [*in_ns, "ip", "route", "add", f"{ROOT_SIDE_ADDRESS}/32", "dev", inner],
    ]
    for step in steps:
        _run(step)


def _remove_network(number: int) -> None:
    """Delete the veth (its peer and /32 route go with it) and the namespace."""
    _run(["ip", "link", "del", f"sp-h{number}"], check=False)
    _run(["ip", "netns", "del", f"sp-{number}"], check=False)


# --- sshd -------------------------------------------------------------------


def _keygen(path: Path, comment: str) -> None:
    path.unlink(missing_ok=True)
    _run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
    )


def _public_key(private: Path) -> str:
    pub = private.with_name(private.name + ".pub")
    if pub.exists():
        return " ".join(pub.read_text().split()[:2])
    return " ".join(_run(["ssh-keygen", "-y", "-f", str(private)]).stdout.split()[:2])


def _write_sshd_config(state: Path, address: str, docker_socket: Path) -> Path:
    config = state / "sshd_config"
    home = state / "home"
    home.mkdir(exist_ok=True)
    config.write_text(
        f"ListenAddress {address}\n"
        "Port 22\n"
        f"HostKey {state / 'host_key'}\n"
        f"AuthorizedKeysFile {state / 'authorized_keys'}\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        f"PidFile {state / 'sshd.pid'}\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "MaxSessions 64\n"
        "MaxStartups 64:30:128\n"
        "LogLevel VERBOSE\n"
        "Subsystem sftp internal-sftp\n"
        # A home of its own, like a fresh VM's: bash run by sshd sources
        # $HOME/.bashrc, and this machine's root .bashrc starts pyenv, which
        # slows every command and can hang on pyenv's rehash lock.
        f"SetEnv DOCKER_HOST=unix://{docker_socket} HOME={home}\n"
    )
    return config


def _start_sshd(number: int, state: Path, config: Path) -> int:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    ns_exec = ["ip", "netns", "exec", f"sp-{number}"]
    sshd = ["/usr/sbin/sshd", "-D", "-f", str(config), "-E", str(state / "sshd.log")]
    # ip netns exec execs sshd, so the child pid is sshd's pid.
    return _spawn([*ns_exec, *sshd], state / "sshd.log")


def _spawn(argv: list[str], log_path: Path) -> int:
    """Start a daemon in the foreground of its own session; keep it for reaping."""
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _DAEMONS[proc.pid] = proc
    return proc.pid


def _reap(pid: int) -> None:
    proc = _DAEMONS.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _wait_for_file(path: Path, timeout_s: float = 10.0) -> Path:
    deadline = time.monotonic() + timeout_s
    while not (path.exists() and path.stat().st_size > 0):
        if time.monotonic() > deadline:
            raise TestHostError(f"{path} did not appear within {timeout_s:.0f} s")
        time.sleep(0.05)
    return path


def _sshd_answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


# --- dockerd ----------------------------------------------------------------


def _exec_root(number: int) -> Path:
    # Short on purpose: containerd sockets below it have a ~100 byte limit.
    return REGISTRY_DIR / f"x{number}"


def _start_dockerd(number: int, state: Path, docker_socket: Path) -> int:
    if Path("/run/containerd/containerd.sock").exists():
        raise TestHostError("a system containerd runs; dockerd would share it")
    pid_file = state / "docker.pid"
    pid_file.unlink(missing_ok=True)
    args = [
        "nsenter",
        f"--net={NETNS_DIR / f'sp-{number}'}",
        "dockerd",
        "--data-root",
        str(state / "data"),
        "--exec-root",
        str(_exec_root(number)),
        "--host",
        f"unix://{docker_socket}",
        "--shutdown-timeout",
        "5",
        "--pidfile",
        str(pid_file),
    ]
    # nsenter execs dockerd, so the child pid is dockerd's pid.
    return _spawn(args, state / "dockerd.log")


def _docker_answers(docker_socket: Path) -> bool:
    proc = _run(
        [
            "docker",
            "-H",
            f"unix://{docker_socket}",
            "version",
            "-f",
            "{{.Server.Version}}",
        ],
        check=False,
    )
    return proc.returncode == 0


def _wait_ready(host: TestHost) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        ssh_ok = _sshd_answers(host.address, host.port)
        docker_ok = _docker_answers(host.docker_socket)
        if ssh_ok and docker_ok:
            return
        if not _is_alive(host.dockerd_pid):
            log_tail = (host.state_dir / "dockerd.log").read_text()[-2000:]
            raise TestHostError(f"dockerd of sp-{host.number} died:\n{log_tail}")
        if time.monotonic() > deadline:
            raise TestHostError(
                f"sp-{host.number} not ready in {READY_TIMEOUT_S:.0f} s "
                f"(sshd={ssh_ok}, docker={docker_ok})"
            )
        time.sleep(0.2)


def _unmount_below(path: Path) -> None:
    """Lazily unmount anything a killed dockerd left mounted below ``path``."""
    prefix = str(path.resolve()) + "/"
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        _run(["umount", "-l", target], check=False)


# --- public API -----------------------------------------------------------------


def missing_requirements() -> str | None:
    """Say why test hosts cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "test hosts need root (network namespaces, sshd, dockerd)"
    missing = [
        tool
        for tool in REQUIRED_TOOLS
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if missing:
        return f"test hosts need these tools: {', '.join(sorted(set(missing)))}"
    return None


def create_test_host(
    number: int,
    state_root: Path,
    *,
    authorized_keys: list[str] | None = None,
    host_key: Path | None = None,
) -> TestHost:
    """Create test host ``number``: namespace, veth, sshd, dockerd; wait until ready.

    Args:
        number: host number N (2..250), ideally from claim_host_number().
        state_root: folder under which ``sp-N/`` holds keys, configs, logs and
            Docker's data.
        authorized_keys: extra public key lines allowed to log in as root
            (the generated client key is always allowed).
        host_key: an existing private host key to use (e.g. one a cloud
            emulator generated in advance); generated when None.

    Returns:
        The ready host. Call destroy_test_host() when done.
    """
    if not FIRST_NUMBER <= number <= LAST_NUMBER:
        raise TestHostError(f"host number {number} is outside 2..250")
    with _registry_lock():
        record = _read_record(number)
        if record is not None and record.get("owner_pid") != os.getpid():
            raise TestHostError(f"sp-{number} is registered to {record}")
        _write_record(number, **_owner())
    ensure_blackhole_route()
    state = (state_root / f"sp-{number}").resolve()
    state.mkdir(parents=True, exist_ok=True)
    docker_socket = state / "docker.sock"
    if len(str(docker_socket)) > MAX_SOCKET_PATH:
        raise TestHostError(f"state path too long for a unix socket: {docker_socket}")
    _write_record(number, state_dir=str(state))
    try:
        host = _start_host(number, state, docker_socket, authorized_keys, host_key)
        _wait_ready(host)
    except BaseException:
        _teardown(number, state)
        raise
    log.info("test host sp-%d ready at %s", number, host.address)
    return host


def _start_host(
    number: int,
    state: Path,
    docker_socket: Path,
    authorized_keys: list[str] | None,
    host_key: Path | None,
) -> TestHost:
    address = f"198.51.100.{number}"
    if host_key is None:
        _keygen(state / "host_key", f"sp-{number}-host")
    else:
        shutil.copyfile(host_key, state / "host_key")
        (state / "host_key").chmod(0o600)
    host_public = _public_key(state / "host_key")
    client_key = state / "client_key"
    _keygen(client_key, f"sp-{number}-client")
    keys = [_public_key(client_key), *(authorized_keys or [])]
    (state / "authorized_keys").write_text("".join(f"{k.strip()}\n" for k in keys))
    known_line = f"{address} {host_public}"
    (state / "known_hosts").write_text(known_line + "\n")
    config = _write_sshd_config(state, address, docker_socket)

    _create_network(number)
    dockerd_pid = _start_dockerd(number, state, docker_socket)
    _write_record(number, dockerd_pid=dockerd_pid)
    sshd_pid = _start_sshd(number, state, config)
    _write_record(number, sshd_pid=sshd_pid)
    return TestHost(
        number=number,
        address=address,
        port=22,
        user="root",
        state_dir=state,
        client_key=client_key,
        known_hosts=state / "known_hosts",
        known_hosts_line=known_line,
        host_public_key=host_public,
        docker_socket=docker_socket,
        sshd_pid=sshd_pid,
        dockerd_pid=dockerd_pid,
    )


def _teardown(number: int, state: Path) -> None:
    record = _read_record(number) or {}
    for key in ("sshd_pid", "dockerd_pid"):
        pid = record.get(key)
        if isinstance(pid, int):
            _stop_pid(pid, str(state))
    _remove_network(number)
    exec_root = _exec_root(number)
    _kill_marked(f"{exec_root}/")
    _unmount_below(exec_root)
    shutil.rmtree(exec_root, ignore_errors=True)
    _unmount_below(state)
    shutil.rmtree(state / "data", ignore_errors=True)
    release_host_number(number)


def destroy_test_host(host: TestHost) -> None:
    """Stop the host's sshd and dockerd (by pid), remove its network and data."""
    _teardown(host.number, host.state_dir)
    log.info("test host sp-%d destroyed", host.number)


def host_run(
    host: TestHost,
    command: Sequence[str] | str,
    *,
    check: bool = True,
    timeout_s: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run a command inside the host's network namespace, DOCKER_HOST set.

    Args:
        host: the test host.
        command: argv, or a string run by ``sh -c``.
        check: raise TestHostError on a non-zero exit.
        timeout_s: seconds before the command is killed.
    """
    argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
    env = {**os.environ, "DOCKER_HOST": host.docker_host}
    proc = subprocess.run(
        ["nsenter", f"--net={NETNS_DIR / host.namespace}", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
        check=False,
    )
    if check and proc.returncode != 0:
        raise TestHostError(f"{argv} in {host.namespace} failed: {proc.stderr.strip()}")
    return proc


def host_popen(host: TestHost, argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start a background process in the host's namespace (caller stops it)."""
    return subprocess.Popen(
        ["nsenter", f"--net={NETNS_DIR / host.namespace}", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def shape_link(host: TestHost, rate: str = "100mbit") -> None:
    """Limit both ends of the host's veth to ``rate`` with a tbf qdisc."""
    tbf = ["root", "tbf", "rate", rate, "burst", "64kb", "latency", "50ms"]
    _run(["tc", "qdisc", "replace", "dev", host.host_veth, *tbf])
    _run(
        [
            "ip",
            "netns",
            "exec",
            host.namespace,
            "tc",
            "qdisc",
            "replace",
            "dev",
            host.inner_veth,
            *tbf,
        ]
    )


def unshape_link(host: TestHost) -> None:
    """Remove the rate limit that shape_link() set."""
    _run(["tc", "qdisc", "del", "dev", host.host_veth, "root"], check=False)
    _run(
        [
            "ip",
            "netns",
            "exec",
            host.namespace,
            "tc",
            "qdisc",
            "del",
            "dev",
            host.inner_veth,
            "root",
        ],
        check=False,
    )


def cut_connections(host: TestHost) -> int:
    """Kill every SSH session process of the host; the listener stays up.

    Clients see their connection drop at once (as with a lost link). Returns
    the number of processes killed.
    """
    victims = _descendants(host.sshd_pid)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(victims)


# --- pytest fixtures ----------------------------------------------------------


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("SITEPROOF_REQUIRE_DOCKER") == "1":
        pytest.fail(f"SITEPROOF_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


class _HostPool:
    """The hosts one test session created, destroyed together at the end."""

    def __init__(self, state_root: Path) -> None:
        self.state_root = state_root
        self.hosts: list[TestHost] = []
        self.added_blackhole = False

    def create(
        self,
        *,
        authorized_keys: list[str] | None = None,
        host_key: Path | None = None,
    ) -> TestHost:
        if ensure_blackhole_route():
            self.added_blackhole = True
        number = claim_host_number()
        try:
            host = create_test_host(
                number,
                self.state_root,
                authorized_keys=authorized_keys,
                host_key=host_key,
            )
        except BaseException:
            release_host_number(number)
            raise
        self.hosts.append(host)
        return host

    def destroy_all(self) -> None:
        while self.hosts:
            host = self.hosts.pop()
            try:
                destroy_test_host(host)
            except Exception:
                log.exception("could not destroy test host sp-%d", host.number)
        if self.added_blackhole:
            remove_blackhole_route_if_unused()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def test_host_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., TestHost]]:
    """Create test hosts on demand; every one is destroyed at session end.

    Call it as ``test_host_factory(authorized_keys=[...], host_key=path)``.
    """
    reason = missing_requirements()
    if reason:
        _skip_or_fail(reason)
    pool = _HostPool(tmp_path_factory.mktemp("testhosts"))
    # SIGTERM would end pytest without finalizers; make it run them.
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield pool.create
    finally:
        pool.destroy_all()
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture(scope="session", name="test_host")
def _test_host(test_host_factory: Callable[..., TestHost]) -> TestHost:
    """One test host shared by the whole session."""
    return test_host_factory()
