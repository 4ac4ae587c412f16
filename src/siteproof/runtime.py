"""Start the container as the site would, and cut it off when the site is offline.

Offline isolation: the container joins a bridge network of its own, and a
``DOCKER-USER`` rule on the host rejects every new connection from that
bridge that would be forwarded elsewhere. Traffic to the host itself is not
forwarded, so it still works, and so do published ports (their connections
come in, they do not start on the bridge).
"""

from __future__ import annotations

import logging
import posixpath
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from siteproof.errors import CommandError, InfraError
from siteproof.remote.base import Session
from siteproof.remote.docker import ContainerSpec, DockerEngine
from siteproof.signals import deferred_interrupts
from siteproof.site import RunSpec
from siteproof.teardown import (
    Teardown,
    delete_rule_command,
    remove_container_command,
    remove_network_command,
    remove_path_command,
    remove_volume_command,
)

log = logging.getLogger(__name__)

RUN_LABEL = "siteproof.run"


@dataclass(frozen=True, slots=True)
class StartedContainer:
    """A container that ``docker run`` created (or tried to).

    Attributes:
        name: the container name.
        started_at: ``time.monotonic()`` when ``docker run`` returned.
        start_error: what ``docker run`` printed when it failed, else "".
        tcp_ports: host ports published for TCP.
    """

    name: str
    started_at: float
    start_error: str
    tcp_ports: tuple[int, ...]


def container_spec(
    run: RunSpec,
    *,
    image: str,
    name: str,
    exposed_ports: Sequence[str],
    network: str,
    run_id: str,
) -> ContainerSpec:
    """Build the ``docker run`` parameters from the site's ``[run]`` table.

    Without ``ports`` in ``[run]``, every EXPOSEd TCP port is published on
    the same host port, as a site usually does.
    """
    ports = run.ports or tuple(
        f"{port}:{port}"
        for port in (p.partition("/")[0] for p in exposed_ports if p.endswith("/tcp"))
    )
    return ContainerSpec(
        image=image,
        name=name,
        ports=ports,
        env=dict(run.env),
        volumes=run.volumes,
        user=run.user,
        restart=run.restart,
        workdir=run.workdir,
        entrypoint=run.entrypoint,
        command=run.command,
        network=network,
        labels={RUN_LABEL: run_id},
    )


def isolate_network(
    session: Session,
    *,
    run_id: str,
    teardown: Teardown,
    use_sudo: bool = False,
) -> str:
    """Create the run's network and block forwarding out of it; return its name.

    Network and firewall rule are made with one command round-trip.

    Raises:
        CommandError: when the network or the firewall rule cannot be made
            (the run cannot prove offline behaviour then).
    """
    name = f"siteproof-{run_id}"
    bridge = "sp-" + run_id.replace("-", "")[-12:]
    iptables = ["sudo", "-n", "iptables"] if use_sudo else ["iptables"]
    rule = _reject_rule(bridge, run_id)
    create = [
        "docker", "network", "create", "--driver", "bridge",
        "-o", f"com.docker.network.bridge.name={bridge}",
        "--label", f"{RUN_LABEL}={run_id}", name,
    ]  # fmt: skip
    insert = shlex.join([*iptables, "-I", "DOCKER-USER", *rule])
    # Registered first: removal tolerates absence, and an interrupt may land
    # while the command runs.
    teardown.add("network", name, remove_network_command(name))
    delete = delete_rule_command(iptables, "DOCKER-USER", rule)
    teardown.add("firewall rule", f"DOCKER-USER -i {bridge}", delete)
    with deferred_interrupts():
        result = session.run(f"{shlex.join(create)} >/dev/null && {insert}")
    if not result.succeeded:
        raise CommandError(
            f"cannot make the offline network {name} on {session.description}",
            command=result.command,
            exit_status=result.exit_status,
            stderr_tail=result.stderr_tail(),
            hint="the engine must manage iptables (DOCKER-USER chain) as root",
        )
    log.info("network %s is offline (bridge %s)", name, bridge)
    return name


def _reject_rule(bridge: str, run_id: str) -> list[str]:
    # REJECT with net-unreachable: what an app sees on a site without a route.
    return [
        "-i", bridge, "!", "-o", bridge,
        "-m", "conntrack", "--ctstate", "NEW",
        "-m", "comment", "--comment", f"siteproof run {run_id}",
        "-j", "REJECT", "--reject-with", "icmp-net-unreachable",
    ]  # fmt: skip


def prepare_volumes(
    session: Session, volumes: Sequence[str], *, teardown: Teardown
) -> None:
    """Create the host folders of bind mounts that do not exist yet.

    The topmost folder this creates is registered for removal, and so is
    each named volume that ``docker run`` is about to create; folders and
    volumes that existed are left alone.
    """
    sources = [v.split(":")[0] for v in volumes if ":" in v]
    folders = [s for s in sources if s.startswith("/")]
    named = [s for s in sources if s and not s.startswith("/")]
    if not sources:
        return
    ancestors = sorted({a for f in folders for a in _ancestors(f)})
    script = "for p in " + " ".join(shlex.quote(a) for a in ancestors)
    script += '; do [ -e "$p" ] || echo "$p"; done; '
    for name in named:
        quoted = shlex.quote(name)
        script += f"docker volume inspect {quoted} >/dev/null 2>&1 || echo @@{quoted}; "
    with deferred_interrupts():
        mkdir = shlex.join(["mkdir", "-p", "--", *folders]) if folders else "true"
        result = session.run(script + mkdir)
        _register_new(result.stdout.splitlines(), teardown)
    if not result.succeeded:
        raise CommandError(
            "cannot create the volume folders",
            command=result.command,
            exit_status=result.exit_status,
            stderr_tail=result.stderr_tail(),
        )


def _register_new(lines: list[str], teardown: Teardown) -> None:
    """Register the topmost new folders and the new named volumes."""
    missing = {line for line in lines if line.startswith("/")}
    for top in sorted(p for p in missing if posixpath.dirname(p) not in missing):
        teardown.add("folder", top, remove_path_command(top))
    for line in lines:
        if line.startswith("@@"):
            teardown.add("volume", line[2:], remove_volume_command(line[2:]))


def _ancestors(path: str) -> list[str]:
    path = posixpath.normpath(path)
    found = []
    while path not in ("/", ""):
        found.append(path)
        path = posixpath.dirname(path)
    return found


def start_container(
    engine: DockerEngine, spec: ContainerSpec, *, teardown: Teardown
) -> StartedContainer:
    """Run the container; a start the image makes fail is kept as start_error."""
    teardown.add("container", spec.name, remove_container_command(spec.name))
    with deferred_interrupts():
        result, document = engine.start_container(spec)
    started_at = time.monotonic()
    if document is None and not result.succeeded:
        raise CommandError(
            f"docker run did not create {spec.name}",
            command=result.command,
            exit_status=result.exit_status,
            stderr_tail=result.stderr_tail(),
        )
    start_error = "" if result.succeeded else result.stderr.strip()
    if _PORT_TAKEN.search(start_error):
        raise InfraError(
            f"a port the site publishes is already in use on "
            f"{engine.session.description}: {start_error.splitlines()[-1]}",
            hint="stop what listens there (a container a killed run left? "
            f"docker ps -a --filter label={RUN_LABEL}), or verify on another host",
        )
    ports = tcp_host_ports(document or {})
    log.info(
        "started container %s from %s%s",
        spec.name,
        spec.image,
        f" (start failed: {start_error.splitlines()[-1]})" if start_error else "",
    )
    return StartedContainer(spec.name, started_at, start_error, ports)


# How the engine says a published port is taken (the host's fault, not the image's).
_PORT_TAKEN = re.compile(r"port is already allocated|address already in use")


def tcp_host_ports(document: Mapping[str, Any]) -> tuple[int, ...]:
    """Return the host ports a container's TCP ports are published on."""
    live = (document.get("NetworkSettings") or {}).get("Ports") or {}
    configured = (document.get("HostConfig") or {}).get("PortBindings") or {}
    bindings = {key: value for key, value in live.items() if value} or configured
    found = set()
    for container_port, hosts in bindings.items():
        if not str(container_port).endswith("/tcp"):
            continue
        for host in hosts or []:
            port = str(host.get("HostPort") or container_port.split("/")[0])
            if port.isdigit():
                found.add(int(port))
    return tuple(sorted(found))
