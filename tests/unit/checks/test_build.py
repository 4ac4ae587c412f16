"""Which checks run, in which order, for a site's [[check]] entries."""

from __future__ import annotations

from siteproof.checks import (
    AliveCheck,
    ExecCheck,
    HttpCheck,
    LogsCheck,
    TcpCheck,
    build_checks,
)
from siteproof.site import CheckSpec


def test_build_checks_defaults_probe_every_port_then_alive_then_logs() -> None:
    checks = build_checks((), tcp_ports=[8080, 80, 8080])

    assert [c.name for c in checks] == ["tcp 80", "tcp 8080", "alive", "logs"]
    assert isinstance(checks[-1], LogsCheck)
    assert checks[-1].use_defaults


def test_build_checks_orders_readiness_before_alive_and_logs_last() -> None:
    specs = (
        CheckSpec(kind="logs", forbid=("panic",)),
        CheckSpec(kind="exec", command=("true",), exit_code=0),
        CheckSpec(kind="alive", settle_s=1.0),
        CheckSpec(kind="http", target="http://127.0.0.1:8501/health", within_s=9),
    )

    checks = build_checks(specs, tcp_ports=[8501])

    assert [type(c) for c in checks] == [HttpCheck, AliveCheck, ExecCheck, LogsCheck]
    assert checks[0].name == "http 127.0.0.1:8501/health"
    assert checks[0].within_s == 9
    assert checks[3].forbid == ("panic",)


def test_build_checks_configured_tcp_check_uses_its_port() -> None:
    (check,) = build_checks((CheckSpec(kind="tcp", target="5432"),), tcp_ports=[])

    assert check == TcpCheck(5432, 60.0)
