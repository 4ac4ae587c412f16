"""siteproof: prove that an image tarball loads and runs at an offline ARM site."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("siteproof")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
