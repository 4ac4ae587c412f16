"""Platform strings (os/arch[/variant]) as Docker and OCI spell them."""

from __future__ import annotations

from dataclasses import dataclass

# What `uname -m`, Go and OCI variously call the same architecture.
_ARCH_ALIASES = {
    "aarch64": "arm64",
    "arm64": "arm64",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "amd64": "amd64",
    "i386": "386",
    "i686": "386",
    "386": "386",
    "armhf": "arm",
    "armv7l": "arm",
    "arm": "arm",
    "s390x": "s390x",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "loongarch64": "loong64",
    "loong64": "loong64",
    "mips64le": "mips64le",
}

# Architectures Docker publishes images for.
KNOWN_ARCHITECTURES = frozenset(_ARCH_ALIASES.values()) | {"mips64", "ppc64"}

# The variant an engine assumes when an image does not name one.
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


def normalize_arch(arch: str) -> str:
    """Return the OCI name of an architecture (``aarch64`` -> ``arm64``)."""
    return _ARCH_ALIASES.get(arch.lower(), arch.lower())


@dataclass(frozen=True, slots=True)
class Platform:
    """An operating system, CPU architecture and optional variant."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``linux/arm64`` or ``linux/arm64/v8``.

        Raises:
            ValueError: when the text is not os/arch[/variant].
        """
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"expected os/arch[/variant], got {text!r}")
        variant = parts[2] if len(parts) == 3 else ""
        return cls(parts[0].lower(), normalize_arch(parts[1]), variant.lower())

    def matches(self, other: Platform) -> bool:
        """Tell whether an image built for *other* runs natively on *self*."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        default = _DEFAULT_VARIANTS.get(self.architecture, "")
        return (self.variant or default) == (other.variant or default)

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base
