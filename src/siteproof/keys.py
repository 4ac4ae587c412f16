"""The team's signing key: ed25519, kept in the user's config folder.

The private half stays in ``$XDG_CONFIG_HOME/siteproof/signing-key`` (PEM,
mode 0600); the public half, ``signing-key.pub``, is one OpenSSH line that can
be shared with whoever checks stamps. ``SITEPROOF_CONFIG_DIR`` overrides the
folder (tests use it).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from siteproof.errors import InputError

log = logging.getLogger(__name__)

PRIVATE_KEY_FILE = "signing-key"
PUBLIC_KEY_FILE = "signing-key.pub"
KEY_COMMENT = "siteproof-signing-key"


def config_dir() -> Path:
    """Return the folder that holds siteproof's own files for this user."""
    override = os.environ.get("SITEPROOF_CONFIG_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "siteproof"


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key that checks stamps, with its ``SHA256:`` fingerprint."""

    key: Ed25519PublicKey
    openssh: str  # "ssh-ed25519 AAAA..." without a comment

    @property
    def key_id(self) -> str:
        """Return the fingerprint as ``ssh-keygen -l`` prints it."""
        blob = base64.b64decode(self.openssh.split()[1])
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
        return "SHA256:" + digest.rstrip("=")

    @classmethod
    def from_key(cls, key: Ed25519PublicKey) -> PublicKey:
        """Wrap a cryptography public key."""
        line = key.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        return cls(key=key, openssh=line)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The private key that signs stamps, and its public half."""

    private: Ed25519PrivateKey
    public: PublicKey
    path: Path

    def sign(self, payload: bytes) -> bytes:
        """Return the ed25519 signature of *payload*."""
        return self.private.sign(payload)


def create_signing_key(folder: Path | None = None, *, force: bool = False) -> Path:
    """Create a new key pair in *folder* (default: the config folder).

    Returns:
        The path of the public key file.

    Raises:
        InputError: when a key exists already and *force* is not set.
    """
    folder = folder or config_dir()
    private_path = folder / PRIVATE_KEY_FILE
    if private_path.exists() and not force:
        raise InputError(
            f"a signing key exists already: {private_path}",
            hint="keep it (siteproof key show), or replace it with --force",
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = PublicKey.from_key(key.public_key())
    public_path = folder / PUBLIC_KEY_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_private(private_path, pem)
        public_path.write_text(f"{public.openssh} {KEY_COMMENT}\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the signing key into {folder}: {exc.strerror}",
            hint="set SITEPROOF_CONFIG_DIR to a folder you can write",
        ) from None
    log.info("created signing key %s in %s", public.key_id, folder)
    return public_path


def _write_private(path: Path, pem: bytes) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)


def find_signing_key(folder: Path | None = None) -> SigningKey | None:
    """Return the user's signing key, or None when ``key init`` never ran.

    Raises:
        InputError: when the key file exists but cannot be read as ed25519.
    """
    path = (folder or config_dir()) / PRIVATE_KEY_FILE
    if not path.exists():
        return None
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InputError(f"cannot read signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path} is not an ed25519 key")
    return SigningKey(
        private=key, public=PublicKey.from_key(key.public_key()), path=path
    )


def load_signing_key(folder: Path | None = None) -> SigningKey:
    """Return the user's signing key.

    Raises:
        InputError: when there is none, or it cannot be read.
    """
    key = find_signing_key(folder)
    if key is None:
        where = (folder or config_dir()) / PRIVATE_KEY_FILE
        raise InputError(
            f"no signing key at {where}", hint="create one with: siteproof key init"
        )
    return key


def parse_public_key(text: str, *, source: str) -> PublicKey:
    """Read an OpenSSH ``ssh-ed25519`` public key line.

    Raises:
        InputError: when the text is not an ed25519 public key.
    """
    fields = text.split()
    if len(fields) < 2 or fields[0] != "ssh-ed25519":
        raise InputError(f"{source} is not an ssh-ed25519 public key")
    try:
        key = serialization.load_ssh_public_key(" ".join(fields[:2]).encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputError(f"{source} is not a valid public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{source} is not an ed25519 key")
    return PublicKey.from_key(key)


def load_public_key(path: Path | None = None) -> PublicKey:
    """Read a public key file (default: the user's own ``signing-key.pub``).

    Raises:
        InputError: when the file is missing or not an ed25519 public key.
    """
    path = path or config_dir() / PUBLIC_KEY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"public key {path} does not exist",
            hint="pass the team's key with --key FILE, or run siteproof key init",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read public key {path}: {exc}") from None
    return parse_public_key(text, source=str(path))
