"""The signed stamp: proof that this exact tarball passed for this site.

After a PASS, ``verify`` writes ``app.tar.stamp.json`` next to the tarball. It
records the tarball's sha256, its images, the site profile and its hash, the
verification host, the verdict and checks, and is signed with the team's
ed25519 key over a canonical JSON form (sorted keys, no spaces, UTF-8) of
everything except the signature value. ``check_stamp`` needs no network.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from siteproof import __version__
from siteproof.archive.index import open_archive
from siteproof.archive.streams import sha256_of_file
from siteproof.errors import InputError
from siteproof.keys import PublicKey, SigningKey
from siteproof.site import SiteProfile

log = logging.getLogger(__name__)

STAMP_FORMAT = "siteproof-stamp/1"
STAMP_SUFFIX = ".stamp.json"
# What the stamp keeps of a verify report.
_REPORT_KEYS = (
    *("verdict", "target", "run_id", "emulated", "image", "checks"),
    *("findings", "host", "parity", "timings_s"),
)


def stamp_path_for(tarball: Path) -> Path:
    """Return where the stamp of *tarball* lives: ``app.tar.stamp.json``."""
    return tarball.with_name(tarball.name + STAMP_SUFFIX)


def canonical_json(document: Any) -> bytes:
    """Return the one byte form of *document* that is signed."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file.

    Raises:
        InputError: when the file cannot be read.
    """
    try:
        return sha256_of_file(path)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def profile_document(profile: SiteProfile) -> dict[str, Any]:
    """Return the site profile as JSON data: the site, its [run] and checks."""
    site = dataclasses.asdict(profile.site)
    site["platform"] = str(profile.site.platform)
    site["docker"] = profile.site.docker_text
    document = {
        "site": site,
        "run": dataclasses.asdict(profile.run),
        "checks": [dataclasses.asdict(check) for check in profile.checks],
    }
    normalized: dict[str, Any] = json.loads(json.dumps(document))
    return normalized


def profile_sha256(profile: SiteProfile) -> str:
    """Return the hash that names a site profile, whatever its file is called."""
    return hashlib.sha256(canonical_json(profile_document(profile))).hexdigest()


def write_stamp(
    tarball: Path,
    sha256: str,
    report: dict[str, Any],
    profile: SiteProfile,
    key: SigningKey,
    *,
    path: Path | None = None,
) -> Path:
    """Sign and write the stamp of a tarball that passed ``verify``.

    Args:
        tarball: the tarball that was verified.
        sha256: its hex sha256, as the verify report recorded it.
        report: the verify report as JSON data (``VerifyReport.to_dict()``).
        profile: the site it passed for.
        key: the team's signing key.
        path: where to write (default: ``<tarball>.stamp.json``).

    Returns:
        The path of the stamp.

    Raises:
        InputError: when the report is not a pass, or the tarball is unreadable.
    """
    if report.get("verdict") != "pass":
        raise InputError(
            f"{tarball} did not pass verification "
            f"(verdict {report.get('verdict')!r}); refusing to stamp it"
        )
    document = _stamp_document(tarball, sha256, report, profile)
    document["signature"] = {
        "algorithm": "ed25519",
        "key_id": key.public.key_id,
        "public_key": key.public.openssh,
    }
    document = json.loads(json.dumps(document))
    signature = key.sign(canonical_json(document))
    document["signature"]["value"] = base64.b64encode(signature).decode()
    target = path or stamp_path_for(tarball)
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    log.info("stamp written to %s (signed by %s)", target, key.public.key_id)
    return target


def _stamp_document(
    tarball: Path, sha256: str, report: dict[str, Any], profile: SiteProfile
) -> dict[str, Any]:
    archive = open_archive(tarball)
    images = [
        {
            "id": image.config_digest,
            "tags": list(image.tags),
            "platform": str(image.config.platform),
        }
        for image in archive.images
    ]
    return {
        "format": STAMP_FORMAT,
        "tarball": {
            "name": tarball.name,
            "sha256": sha256,
            "size_bytes": tarball.stat().st_size,
        },
        "images": images,
        "site": {
            "name": profile.name,
            "sha256": profile_sha256(profile),
            "profile": profile_document(profile),
        },
        "verification": {k: report[k] for k in _REPORT_KEYS if k in report},
        "tool": {"name": "siteproof", "version": __version__},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@dataclass(frozen=True, slots=True)
class StampCheck:
    """What ``stamp check`` found.

    Attributes:
        tarball: the tarball checked.
        stamp: the stamp file read.
        sha256: the tarball's actual sha256.
        problems: each thing that does not match, one sentence each; empty
            when the stamp holds.
        site_name: the site the stamp was signed for.
        key_id: the fingerprint of the key that was expected.
        created: when the stamp was signed (ISO 8601).
        target: where verification ran.
    """

    tarball: Path
    stamp: Path
    sha256: str
    problems: tuple[str, ...]
    site_name: str
    key_id: str
    created: str
    target: str

    @property
    def passed(self) -> bool:
        """Tell whether every part of the stamp holds."""
        return not self.problems

    def summary(self) -> str:
        """Return one line saying what the stamp proves."""
        return (
            f"{self.tarball.name} (sha256 {self.sha256}) passed verification for "
            f"site {self.site_name} on {self.target or 'a verification host'} "
            f"at {self.created}, signed by {self.key_id}"
        )


def read_stamp(path: Path) -> dict[str, Any]:
    """Read a stamp file and check that it has every field ``check`` needs.

    Raises:
        InputError: when the file is missing or is not a siteproof stamp.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"stamp {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"stamp {path} is not readable JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != STAMP_FORMAT:
        raise InputError(f"{path} is not a siteproof stamp ({STAMP_FORMAT})")
    required = {
        "tarball": ("name", "sha256"),
        "site": ("name", "sha256"),
        "signature": ("key_id", "public_key", "value"),
    }
    for table, keys in required.items():
        values = document.get(table)
        if not isinstance(values, dict) or not all(
            isinstance(values.get(k), str) for k in keys
        ):
            raise InputError(f"stamp {path}: [{table}] lacks {', '.join(keys)}")
    return document


def check_stamp(
    tarball: Path,
    stamp: Path,
    key: PublicKey,
    *,
    profile: SiteProfile | None = None,
) -> StampCheck:
    """Check that *stamp* proves *tarball* passed, signed by *key*.

    Args:
        tarball: the tarball in hand.
        stamp: its stamp file.
        key: the public key the stamp must be signed with.
        profile: when given, the stamp must be for this site.

    Raises:
        InputError: when a file is missing or the stamp is malformed.
    """
    document = read_stamp(stamp)
    actual = sha256_file(tarball)
    problems = _signature_problems(document, key)
    verification = document.get("verification") or {}
    if not isinstance(verification, dict):
        raise InputError(f"stamp {stamp} is malformed: verification is not an object")
    if verification.get("verdict") != "pass":
        problems.append(
            f"the stamp records verdict {verification.get('verdict')!r}, not pass"
        )
    problems += _tarball_problems(document["tarball"], tarball, actual)
    if profile is not None:
        problems += _site_problems(document["site"], profile)
    return StampCheck(
        tarball=tarball,
        stamp=stamp,
        sha256=actual,
        problems=tuple(problems),
        site_name=document["site"]["name"],
        key_id=key.key_id,
        created=str(document.get("created", "")),
        target=str(verification.get("target", "")),
    )


def _signature_problems(document: dict[str, Any], key: PublicKey) -> list[str]:
    signature = document["signature"]
    if signature["key_id"] != key.key_id or signature["public_key"] != key.openssh:
        return [
            f"the stamp is signed by another key ({signature['key_id']}), "
            f"not by {key.key_id}"
        ]
    unsigned = {**document, "signature": dict(signature)}
    value = unsigned["signature"].pop("value")
    try:
        key.key.verify(base64.b64decode(value, validate=True), canonical_json(unsigned))
    except (InvalidSignature, binascii.Error):
        return [
            "the stamp was changed after it was signed: its signature does not "
            "match its content"
        ]
    return []


def _tarball_problems(
    recorded: dict[str, Any], tarball: Path, actual: str
) -> list[str]:
    if recorded["sha256"] == actual:
        return []
    if recorded["name"] == tarball.name:
        return [
            f"{tarball.name} was modified after verification: its sha256 is "
            f"{actual}, the stamp was signed for {recorded['sha256']}"
        ]
    return [
        f"the stamp is for another tarball, {recorded['name']} (sha256 "
        f"{recorded['sha256']}), not for {tarball.name} (sha256 {actual})"
    ]


def _site_problems(recorded: dict[str, Any], profile: SiteProfile) -> list[str]:
    expected = profile_sha256(profile)
    if recorded["sha256"] == expected:
        return []
    return [
        f"the stamp is for site {recorded['name']} (profile sha256 "
        f"{recorded['sha256'][:12]}), not for {profile.name} (profile sha256 "
        f"{expected[:12]})"
    ]
