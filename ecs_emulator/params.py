"""Typed access to the flattened RPC parameters of one request.

The SDK flattens lists to ``X.1``, ``X.2`` and models to ``X.Sub``, and sends
every scalar as ``str(value)``, so booleans arrive as ``True``/``False``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ecs_emulator.errors import ApiError, invalid_parameter, missing_parameter

_INDEXED = re.compile(r"^(?P<prefix>.+?)\.(?P<index>\d+)(?:\.(?P<field>.+))?$")


class Params:
    """Read-only view of one request's parameters with validation helpers."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def as_dict(self) -> dict[str, str]:
        """Return a copy of every parameter as received."""
        return dict(self._values)

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return a parameter, or ``default`` when absent or empty."""
        value = self._values.get(name)
        return value if value not in (None, "") else default

    def require(self, name: str) -> str:
        """Return a parameter or raise MissingParameter."""
        value = self.get(name)
        if value is None:
            raise missing_parameter(name)
        return value

    def get_bool(self, name: str, default: bool = False) -> bool:
        """Return a boolean parameter; ``true``/``false`` in any case."""
        value = self.get(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise invalid_parameter(name)
        return value.lower() == "true"

    def get_int(
        self, name: str, default: int, low: int | None = None, high: int | None = None
    ) -> int:
        """Return an integer parameter checked against ``[low, high]``."""
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise invalid_parameter(name) from None
        if (low is not None and number < low) or (high is not None and number > high):
            raise invalid_parameter(name)
        return number

    def get_float(self, name: str) -> float | None:
        """Return a float parameter, or None when absent."""
        value = self.get(name)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            raise invalid_parameter(name) from None

    def get_list(self, prefix: str) -> list[str]:
        """Return the values of ``prefix.1``, ``prefix.2``, ... in index order."""
        items = self._indexed(prefix)
        return [fields[""] for _, fields in sorted(items.items()) if "" in fields]

    def get_records(self, prefix: str) -> list[dict[str, str]]:
        """Return ``prefix.N.Field`` groups as dicts, in index order."""
        items = self._indexed(prefix)
        return [fields for _, fields in sorted(items.items())]

    def get_json_list(self, name: str, max_items: int = 100) -> list[str] | None:
        """Return a JSON-array-of-strings parameter such as ``InstanceIds``."""
        value = self.get(name)
        if value is None:
            return None
        try:
            items = json.loads(value)
        except ValueError:
            raise invalid_parameter(name) from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise invalid_parameter(name)
        if len(items) > max_items:
            raise invalid_parameter(name)
        return items

    def get_tags(self, prefix: str = "Tag") -> list[tuple[str, str]]:
        """Return ``Tag.N.Key``/``Tag.N.Value`` pairs (value may be empty)."""
        tags = []
        for record in self.get_records(prefix):
            key = record.get("Key", "")
            if not key:
                raise ApiError(
                    400,
                    "InvalidTagKey.Malformed",
                    "The specified Tag.n.Key is not valid.",
                )
            tags.append((key, record.get("Value", "")))
        return tags

    def _indexed(self, prefix: str) -> dict[int, dict[str, str]]:
        """Group ``prefix.N[.Field]`` parameters by N."""
        found: dict[int, dict[str, str]] = {}
        for key, value in self._values.items():
            match = _INDEXED.match(key)
            if match is None or match["prefix"] != prefix:
                continue
            fields = found.setdefault(int(match["index"]), {})
            fields[match["field"] or ""] = value
        return found
