"""Docker verbs over any Session: the ``docker`` client on the host does the work.

Every command is built as an argv and quoted with :mod:`shlex`, so site values
(env, volumes, commands) reach Docker exactly as written. ``docker run``
always gets ``--pull never``: the site has no registry and neither do we.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from siteproof.errors import CommandError
from siteproof.remote.base import CommandResult, Session

log = logging.getLogger(__name__)

_LOADED = re.compile(r"^Loaded image(?: ID)?: (\S+)\s*$", re.MULTILINE)
DEFAULT_TIMEOUT_S = 120.0
LOAD_TIMEOUT_S = 1800.0


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """How to start the container: the site's ``[run]`` plus our own bits.

    Attributes:
        image: reference to run (tag, or image id).
        name: container name, unique per run.
        entrypoint: replaces the image's ENTRYPOINT (and, as in Docker, its
            CMD) when not None; ``()`` clears it.
        command: replaces the image's CMD when not None.
    """

    image: str
    name: str
    ports: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    user: str = ""
    restart: str = ""
    workdir: str = ""
    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    network: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def run_argv(self) -> list[str]:
        """Return the ``docker run -d`` argv for this container."""
        argv = ["docker", "run", "-d", "--pull", "never", "--name", self.name]
        for port in self.ports:
            argv += ["-p", port]
        for key, value in self.env.items():
            argv += ["-e", f"{key}={value}"]
        for volume in self.volumes:
            argv += ["-v", volume]
        for key, value in self.labels.items():
            argv += ["--label", f"{key}={value}"]
        argv += _flag("--user", self.user) + _flag("--restart", self.restart)
        argv += _flag("--workdir", self.workdir) + _flag("--network", self.network)
        args: tuple[str, ...] = ()
        if self.entrypoint is not None:
            argv += ["--entrypoint", self.entrypoint[0] if self.entrypoint else ""]
            args = self.entrypoint[1:]
        argv.append(self.image)
        return argv + list(args) + list(self.command or ())


def _flag(name: str, value: str) -> list[str]:
    return [name, value] if value else []


@dataclass(frozen=True, slots=True)
class LocalImage:
    """One image in the engine: its full id and the tags that name it."""

    id: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What ``docker load`` said, and the engine's images around it."""

    reported: tuple[str, ...]
    before: list[LocalImage]
    after: list[LocalImage]
    result: CommandResult


_MARK = "@@siteproof@@"
_LIST_IMAGES = [
    "docker", "image", "ls", "-a", "--no-trunc",
    "--format", "{{.ID}} {{.Repository}}:{{.Tag}}",
]  # fmt: skip


def parse_image_list(text: str) -> list[LocalImage]:
    """Parse ``docker image ls --format '{{.ID}} {{.Repository}}:{{.Tag}}'``."""
    tags: dict[str, list[str]] = {}
    for line in text.splitlines():
        image_id, _, tag = line.strip().partition(" ")
        if not image_id.startswith("sha256:"):
            continue
        names = tags.setdefault(image_id, [])
        if tag and "<none>" not in tag:
            names.append(tag)
    return [LocalImage(key, tuple(value)) for key, value in tags.items()]


class DockerEngine:
    """The Docker engine of one host, driven through its ``docker`` client."""

    def __init__(self, session: Session) -> None:
        """Use *session* to reach the host's ``docker`` command."""
        self.session = session

    def call(
        self,
        argv: Sequence[str],
        *,
        what: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        check: bool = True,
    ) -> CommandResult:
        """Run a docker command; raise CommandError when *check* and it fails.

        Args:
            argv: the command, e.g. ``["docker", "rm", "-f", name]``.
            what: what it does, for the error message (``remove container x``).
            timeout_s: how long it may take.
            check: raise when the exit status is not 0.
        """
        result = self.session.run(shlex.join(argv), timeout_s=timeout_s)
        log.debug("%s: exit %d", what, result.exit_status)
        if check and not result.succeeded:
            raise CommandError(
                f"cannot {what} on {self.session.description}",
                command=result.command,
                exit_status=result.exit_status,
                stderr_tail=result.stderr_tail(),
            )
        return result

    def load_image(self, path: str) -> LoadResult:
        """Run ``docker load -i`` and list the images before and after it.

        One command round-trip: the listing and the load travel together.
        The caller judges ``result`` (a failed load may still add images).
        """
        listing = shlex.join(_LIST_IMAGES)
        script = (
            f"{listing}; echo {_MARK}; docker load -i {shlex.quote(path)}; rc=$?; "
            f"echo {_MARK}; {listing}; exit $rc"
        )
        result = self.session.run(script, timeout_s=LOAD_TIMEOUT_S)
        before, loaded, after = ([*result.stdout.split(_MARK + "\n"), "", ""])[:3]
        return LoadResult(
            reported=tuple(_LOADED.findall(loaded)),
            before=parse_image_list(before),
            after=parse_image_list(after),
            result=result,
        )

    def list_images(self) -> list[LocalImage]:
        """Return every image in the engine with its tags."""
        result = self.call(_LIST_IMAGES, what="list images")
        return parse_image_list(result.stdout)

    def inspect_image(self, reference: str) -> dict[str, Any]:
        """Return ``docker image inspect`` of one image."""
        result = self.call(
            ["docker", "image", "inspect", reference],
            what=f"inspect image {reference}",
        )
        return _first_document(result.stdout)

    def start_container(
        self, spec: ContainerSpec
    ) -> tuple[CommandResult, dict[str, Any] | None]:
        """Run ``docker run -d`` and inspect the container in one round-trip.

        A start that fails because of the image (an entrypoint that cannot be
        executed) is a verdict, not an infrastructure error, so the result is
        returned as it is, with the container's inspect document when
        ``docker run`` created it.
        """
        name = shlex.quote(spec.name)
        script = (
            f"{shlex.join(spec.run_argv())}; rc=$?; echo {_MARK}; "
            f"docker container inspect {name} 2>/dev/null; exit $rc"
        )
        result = self.session.run(script, timeout_s=DEFAULT_TIMEOUT_S)
        _, _, inspected = result.stdout.partition(_MARK + "\n")
        document = _first_document(inspected) if inspected.strip("[] \n") else None
        log.debug("start %s: exit %d", spec.name, result.exit_status)
        return result, document

    def inspect_container(self, name: str) -> dict[str, Any] | None:
        """Return ``docker inspect`` of a container, or None when it is gone."""
        result = self.call(
            ["docker", "container", "inspect", name],
            what=f"inspect container {name}",
            check=False,
        )
        if not result.succeeded:
            if "no such" in result.stderr.lower():
                return None
            raise CommandError(
                f"cannot inspect container {name} on {self.session.description}",
                command=result.command,
                exit_status=result.exit_status,
                stderr_tail=result.stderr_tail(),
            )
        return _first_document(result.stdout)

    def read_logs(self, name: str, *, tail: int | None = None) -> str:
        """Return the container's log, stdout and stderr interleaved."""
        argv = ["docker", "logs"]
        if tail is not None:
            argv += ["--tail", str(tail)]
        command = shlex.join([*argv, name]) + " 2>&1"
        result = self.session.run(command, timeout_s=DEFAULT_TIMEOUT_S)
        if not result.succeeded:
            raise CommandError(
                f"cannot read the log of {name}",
                command=command,
                exit_status=result.exit_status,
                stderr_tail=result.stdout[-2000:],
            )
        return result.stdout

    def exec_in_container(
        self, name: str, command: Sequence[str], *, timeout_s: float = 60.0
    ) -> CommandResult:
        """Run a command inside the container; the caller judges the exit code."""
        return self.call(
            ["docker", "exec", name, *command],
            what=f"exec in {name}",
            timeout_s=timeout_s,
            check=False,
        )

    def remove_container(self, name: str) -> CommandResult:
        """Remove a container and its anonymous volumes (``rm -f -v``)."""
        return self.call(
            ["docker", "rm", "-f", "-v", name], what=f"remove {name}", check=False
        )

    def remove_image(self, reference: str) -> CommandResult:
        """Remove an image or a tag (``rmi``)."""
        return self.call(
            ["docker", "rmi", reference], what=f"remove image {reference}", check=False
        )

    def create_network(
        self, name: str, *, bridge: str, labels: Mapping[str, str]
    ) -> None:
        """Create a bridge network whose Linux interface is called *bridge*."""
        argv = ["docker", "network", "create", "--driver", "bridge"]
        argv += ["-o", f"com.docker.network.bridge.name={bridge}"]
        for key, value in labels.items():
            argv += ["--label", f"{key}={value}"]
        self.call([*argv, name], what=f"create network {name}")

    def remove_network(self, name: str) -> CommandResult:
        """Remove a network."""
        return self.call(
            ["docker", "network", "rm", name],
            what=f"remove network {name}",
            check=False,
        )


def _first_document(text: str) -> dict[str, Any]:
    documents = json.loads(text)
    if not isinstance(documents, list) or not documents:
        raise ValueError("docker inspect returned no object")
    first = documents[0]
    if not isinstance(first, dict):
        raise ValueError("docker inspect returned no object")
    return first
