"""``site probe``: the POSIX shell script that describes a site's server.

The script runs on the customer's server (no Python there, no network) and
writes a ``site.toml`` that :func:`siteproof.site.load_profile` reads.
"""

from __future__ import annotations

import re
import shlex
from importlib import resources

from siteproof.errors import InputError

# Docker's rule for container names; ids match it too.
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def probe_script(container: str = "") -> str:
    """Return the probe script, set to describe *container* in ``[run]``.

    Args:
        container: name or id of the running container whose ``docker run``
            parameters go into ``[run]``; empty for ``[site]`` only.

    Raises:
        InputError: when *container* is not a valid container name.
    """
    if container and not _CONTAINER_NAME.match(container):
        raise InputError(
            f"{container!r} is not a container name",
            hint="use the name that docker ps shows in its NAMES column",
        )
    template = resources.files("siteproof").joinpath("scripts", "probe.sh")
    text = template.read_text(encoding="utf-8")
    return text.replace("@CONTAINER@", shlex.quote(container), 1)
