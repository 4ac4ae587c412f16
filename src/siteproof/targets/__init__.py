"""Targets: where verify runs. Each kind is imported only when chosen."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from siteproof.errors import InputError
from siteproof.targets.base import Host, Target, TargetOptions

__all__ = [
    "TARGETS",
    "Host",
    "Target",
    "TargetOptions",
    "create_target",
    "default_target_spec",
]

# The name --target starts with, and the class that handles it.
TARGETS = {
    "local": "siteproof.targets.local:LocalTarget",
    "ssh": "siteproof.targets.ssh:SshTarget",
    "aliyun": "siteproof.targets.aliyun:AliyunTarget",
}


def target_kind(spec: str) -> str:
    """Return the registry key of a ``--target`` value (``ssh://...`` -> ssh)."""
    return spec.partition("://")[0] if "://" in spec else spec.partition(":")[0]


def create_target(spec: str, options: TargetOptions) -> Target:
    """Build the target a ``--target`` value names.

    Raises:
        InputError: when no target kind matches.
    """
    kind = target_kind(spec)
    if kind not in TARGETS:
        raise InputError(
            f"unknown target {spec}",
            hint="use local, ssh://user@host[:port] or aliyun",
        )
    module_name, _, class_name = TARGETS[kind].partition(":")
    target_class: type[Target] = getattr(
        importlib.import_module(module_name), class_name
    )
    return target_class.from_spec(spec, options)


# Where the aliyun CLI and the SDK keep a configured access key. Only their
# existence is checked here; nothing is read.
_CREDENTIAL_FILES = (".aliyun/config.json", ".alibabacloud/credentials.ini")
_CREDENTIAL_VARIABLES = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ECS_METADATA")


def default_target_spec() -> str:
    """Return ``aliyun`` when cloud credentials are configured, else "".

    The cloud is the default target only for users who set it up.
    """
    if any(os.environ.get(name) for name in _CREDENTIAL_VARIABLES):
        return "aliyun"
    home = Path.home()
    if any((home / name).is_file() for name in _CREDENTIAL_FILES):
        return "aliyun"
    return ""
