"""Login keys made here, and the first-boot script that prepares an instance.

The client key pair and the SSH host key are both generated on this
machine. Only the client's public half goes to the cloud (ImportKeyPair);
the host key travels in the user data, so we know the server's key before
the first connection and never trust on first use.

The user data is a plain shell script, which cloud-init runs as root at
first boot. Its host-key heredoc follows the ECS emulator's convention
(delimiter ``SITEPROOF_HOST_KEY``), so the emulated host uses the same key.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Where the script leaves its markers on the instance.
DEFAULT_MARKER_DIR = "/var/lib/siteproof"

# The API limit is 32 KiB decoded; stay well under the older 16 KiB one.
MAX_USER_DATA_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True, repr=False)
class KeyPairText:
    """An ed25519 key pair in OpenSSH formats."""

    private_openssh: str
    public_line: str

    def __repr__(self) -> str:
        return f"KeyPairText(public_line={self.public_line!r})"


def generate_ed25519(comment: str = "") -> KeyPairText:
    """Return a fresh ed25519 key pair (private key unencrypted, OpenSSH)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = public.decode("ascii") + (f" {comment}" if comment else "")
    return KeyPairText(private_openssh=private, public_line=line)


def host_public_key(host_key: KeyPairText) -> str:
    """Return ``type base64`` of a host key, as known_hosts wants it."""
    return " ".join(host_key.public_line.split()[:2])


@dataclass(frozen=True, slots=True)
class UserDataOptions:
    """What the first-boot script should do besides installing the host key.

    Attributes:
        run_id: the run, for the log and the markers.
        docker_version: ``major.minor`` to install when Docker is missing;
            empty for the distribution's current one.
        marker_dir: where ``user-data.done`` / ``user-data.failed`` go.
    """

    run_id: str
    docker_version: str = ""
    marker_dir: str = DEFAULT_MARKER_DIR


_HEAD = """\
#!/bin/sh
# siteproof run {run_id}: prepare this instance for one image verification.
set -eu
install -d -m 0755 /etc/ssh
cat > /etc/ssh/ssh_host_ed25519_key <<'SITEPROOF_HOST_KEY'
{host_key}SITEPROOF_HOST_KEY
chmod 600 /etc/ssh/ssh_host_ed25519_key
ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key.pub
"""

_BODY = """\
markers={marker_dir}
mkdir -p "$markers"
finish() {{
  status=$?
  if [ "$status" -ne 0 ]; then echo "exit $status" > "$markers/user-data.failed"; fi
}}
trap finish EXIT
exec >> "$markers/user-data.log" 2>&1
systemctl restart sshd 2>/dev/null || systemctl restart ssh 2>/dev/null \\
  || service sshd restart
docker_version={docker_version}
if ! command -v docker >/dev/null 2>&1; then
  if command -v dnf >/dev/null 2>&1; then
    mirror=http://mirrors.cloud.aliyuncs.com/docker-ce
    dnf config-manager --add-repo="$mirror/linux/centos/docker-ce.repo"
    sed -i 's+https://mirrors.aliyun.com+http://mirrors.cloud.aliyuncs.com+' \\
      /etc/yum.repos.d/docker-ce.repo
    dnf -y install dnf-plugin-releasever-adapter --repo alinux3-plus || true
    if [ -n "$docker_version" ]; then
      dnf -y install "docker-ce-$docker_version.*" "docker-ce-cli-$docker_version.*"
    else
      dnf -y install docker-ce
    fi
  elif command -v apt-get >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io
  else
    echo "no package manager to install Docker with"; exit 3
  fi
fi
systemctl enable --now docker
docker info > /dev/null
touch "$markers/user-data.done"
"""


def build_user_data(host_key: KeyPairText, options: UserDataOptions) -> str:
    """Return the first-boot script, base64-encoded as RunInstances wants it.

    Raises:
        ValueError: when the script would exceed the API's size limit.
    """
    script = _HEAD.format(run_id=options.run_id, host_key=host_key.private_openssh)
    script += _BODY.format(
        marker_dir=shlex.quote(options.marker_dir),
        docker_version=shlex.quote(options.docker_version),
    )
    raw = script.encode("utf-8")
    if len(raw) > MAX_USER_DATA_BYTES:
        raise ValueError(f"user data is {len(raw)} bytes, over {MAX_USER_DATA_BYTES}")
    return base64.b64encode(raw).decode("ascii")


def marker_probe(marker_dir: str) -> str:
    """Return a shell command printing ``done``, ``failed`` + log, or ``waiting``."""
    d = shlex.quote(marker_dir)
    return (
        f"if [ -e {d}/user-data.done ]; then echo done; "
        f"elif [ -e {d}/user-data.failed ]; then echo failed; "
        f"tail -n 20 {d}/user-data.log 2>/dev/null; "
        "else echo waiting; fi"
    )
