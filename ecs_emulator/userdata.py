"""The user-data convention that carries the SSH host key to an instance.

siteproof's user data is a shell script that cloud-init runs as root. It
writes the ed25519 host key with a quoted heredoc whose delimiter is
``SITEPROOF_HOST_KEY``::

    cat > /etc/ssh/ssh_host_ed25519_key <<'SITEPROOF_HOST_KEY'
    -----BEGIN OPENSSH PRIVATE KEY-----
    ...
    -----END OPENSSH PRIVATE KEY-----
    SITEPROOF_HOST_KEY

A test-host factory does what cloud-init would do with that part only: it
installs the key as the host key of the test host's sshd.

Completion markers: when the script has a line ``markers=<dir>`` (one
shell word), the emulated host "finishes" the user data by creating
``<dir>/user-data.done`` (or ``<dir>/user-data.failed`` containing
``exit 1`` under the ``user_data_fails`` fault; nothing under
``user_data_hangs``) and appending a line to ``<dir>/user-data.log``.
Test hosts share the machine's file system, so tests should give each run
its own marker directory.
"""

from __future__ import annotations

import re
import shlex

HOST_KEY_DELIMITER = "SITEPROOF_HOST_KEY"
HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key"
DONE_MARKER = "user-data.done"
FAILED_MARKER = "user-data.failed"
LOG_FILE = "user-data.log"
_MARKERS = re.compile(r"^markers=(?P<value>\S.*)$", re.MULTILINE)
_HEREDOC = re.compile(
    r"<<-?\s*'"
    + HOST_KEY_DELIMITER
    + r"'[^\n]*\n(?P<body>.*?)^"
    + HOST_KEY_DELIMITER
    + r"[ \t]*$",
    re.DOTALL | re.MULTILINE,
)


def extract_host_key(user_data: bytes | None) -> str | None:
    """Return the host private key from siteproof's user data, or None.

    Args:
        user_data: The decoded user data (the script itself, not base64).

    Returns:
        The key text (newline-terminated) between the heredoc lines, or None
        when the script has no such heredoc.
    """
    if not user_data:
        return None
    text = user_data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    match = _HEREDOC.search(text)
    if match is None:
        return None
    body = match["body"]
    return body if body.endswith("\n") else body + "\n"


def extract_marker_dir(user_data: bytes | None) -> str | None:
    """Return the ``markers=<dir>`` directory of the user data, or None."""
    if not user_data:
        return None
    text = user_data.decode("utf-8", errors="replace")
    match = _MARKERS.search(text)
    if match is None:
        return None
    try:
        words = shlex.split(match["value"], comments=True)
    except ValueError:
        return None
    return words[0] if len(words) == 1 and words[0].startswith("/") else None


def render_host_key_script(private_key: str, extra: str = "") -> str:
    """Return a minimal user-data script that follows the convention.

    Tests use it; siteproof writes its own script the same way.
    """
    key = private_key if private_key.endswith("\n") else private_key + "\n"
    return (
        "#!/bin/sh\nset -eu\ninstall -d -m 0755 /etc/ssh\n"
        f"cat > {HOST_KEY_PATH} <<'{HOST_KEY_DELIMITER}'\n{key}{HOST_KEY_DELIMITER}\n"
        f"chmod 600 {HOST_KEY_PATH}\n"
        f"ssh-keygen -y -f {HOST_KEY_PATH} > {HOST_KEY_PATH}.pub\n"
        "systemctl restart sshd || service sshd restart\n" + extra
    )
