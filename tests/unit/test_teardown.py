"""Teardown: one script, a verdict per resource, idempotent."""

from __future__ import annotations

from pathlib import Path

from siteproof.remote.local import LocalSession
from siteproof.teardown import Teardown, remove_path_command


def test_teardown_removes_in_reverse_order_and_reports_failures(
    tmp_path: Path,
) -> None:
    order = tmp_path / "order"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.write_text("x")
    teardown = Teardown()
    teardown.add("folder", str(first), f"echo first >> {order}; rm -rf {first}")
    teardown.add("thing", "stuck", "echo 'device busy' >&2; exit 1")
    teardown.add("file", str(second), f"echo second >> {order}; rm -f {second}")

    leftovers = teardown.run(LocalSession())

    assert leftovers == ["thing stuck (device busy)"]
    assert order.read_text().split() == ["second", "first"]
    assert not first.exists()
    assert not second.exists()
    assert teardown.describe() == ["thing stuck"]


def test_teardown_twice_touches_only_what_is_left(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    teardown = Teardown()
    teardown.add("file", "a", f"echo a >> {marker}")

    assert teardown.run(LocalSession()) == []
    assert teardown.run(LocalSession()) == []
    assert marker.read_text() == "a\n"


def test_teardown_without_connection_reports_everything() -> None:
    teardown = Teardown()
    teardown.add("container", "c1", "true")

    assert teardown.run(None) == ["container c1 (no connection to the host)"]


def test_remove_path_command_quotes_odd_names(tmp_path: Path) -> None:
    odd = tmp_path / "a b; echo pwned"
    odd.mkdir()
    teardown = Teardown()
    teardown.add("folder", str(odd), remove_path_command(str(odd)))

    assert teardown.run(LocalSession()) == []
    assert not odd.exists()
    assert tmp_path.exists()
