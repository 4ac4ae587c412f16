"""The aliyun target's parts that need no API: journal, user data, errors."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException

from siteproof.errors import ProvisionError
from siteproof.journal import Journal, Resource, open_runs, read_run
from siteproof.targets.aliyun.api import (
    ApiError,
    CapacityError,
    RetryPolicy,
    api_protocol,
    translate_error,
)
from siteproof.targets.aliyun.userdata import (
    UserDataOptions,
    build_user_data,
    generate_ed25519,
    marker_probe,
)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SITEPROOF_STATE_DIR", str(tmp_path))
    return tmp_path


def test_journal_replays_what_is_left_in_release_order(state: Path) -> None:
    journal = Journal.start("run-1", region="cn-hangzhou", endpoint="")
    journal.record_token("sp-run-1-1", action="RunInstances")
    for kind, rid in [
        ("key_pair", "k"),
        ("security_group", "sg-1"),
        ("instance", "i-1"),
    ]:
        journal.record_created(Resource(kind, rid, "cn-hangzhou"))
    journal.record_released(Resource("key_pair", "k", "cn-hangzhou"))

    record = read_run(journal.path)

    assert [str(r) for r in record.left] == ["instance i-1", "security_group sg-1"]
    assert record.tokens == ("sp-run-1-1",)
    assert not record.is_finished
    assert [r.run_id for r in open_runs()] == ["run-1"]


def test_journal_ignores_a_torn_last_line(state: Path) -> None:
    journal = Journal.start("run-2", region="cn-hangzhou", endpoint="127.0.0.1:1")
    journal.record_created(Resource("instance", "i-2", "cn-hangzhou"))
    with journal.path.open("a") as handle:
        handle.write('{"event": "released", "kind": "inst')  # SIGKILL mid-write

    record = read_run(journal.path)

    assert [r.id for r in record.left] == ["i-2"]
    assert record.endpoint == "127.0.0.1:1"


def test_journal_finished_run_is_not_open(state: Path) -> None:
    journal = Journal.start("run-3", region="cn-hangzhou", endpoint="")
    journal.record_created(Resource("vpc", "vpc-1", "cn-hangzhou"))
    journal.record_released(Resource("vpc", "vpc-1", "cn-hangzhou"))
    journal.finish()

    assert read_run(journal.path).is_finished
    assert open_runs() == []


def test_journal_lines_are_json_with_timestamps(state: Path) -> None:
    journal = Journal.start("run-4", region="cn-hangzhou", endpoint="")

    first = json.loads(journal.path.read_text().splitlines()[0])

    assert first["event"] == "run-started"
    assert first["run_id"] == "run-4"
    assert first["at"].endswith("+00:00")


def test_user_data_is_a_valid_shell_script_carrying_the_host_key() -> None:
    host_key = generate_ed25519()
    encoded = build_user_data(
        host_key, UserDataOptions(run_id="r", docker_version="20.10")
    )
    script = base64.b64decode(encoded).decode()

    syntax = subprocess.run(["sh", "-n"], input=script, text=True, check=False)

    assert syntax.returncode == 0
    assert script.startswith("#!/bin/sh\n")
    assert host_key.private_openssh in script
    assert 'touch "$markers/user-data.done"' in script
    assert "docker-ce-$docker_version.*" in script


def test_user_data_follows_the_emulator_host_key_convention() -> None:
    userdata = pytest.importorskip("ecs_emulator.userdata")
    host_key = generate_ed25519()
    script = base64.b64decode(build_user_data(host_key, UserDataOptions(run_id="r")))

    assert userdata.extract_host_key(script) == host_key.private_openssh


def test_marker_probe_reports_done_failed_and_waiting(tmp_path: Path) -> None:
    def probe() -> str:
        return subprocess.run(
            ["sh", "-c", marker_probe(str(tmp_path))],
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    assert probe().strip() == "waiting"
    (tmp_path / "user-data.log").write_text("dnf: no network\n")
    (tmp_path / "user-data.failed").write_text("exit 1\n")
    assert probe().splitlines() == ["failed", "dnf: no network"]
    (tmp_path / "user-data.done").touch()
    assert probe().strip() == "done"


def test_key_pair_repr_hides_the_private_key() -> None:
    pair = generate_ed25519("c")

    assert "PRIVATE" not in repr(pair)
    assert pair.public_line.startswith("ssh-ed25519 ")
    assert pair.public_line.endswith(" c")


@pytest.mark.parametrize(
    ("endpoint", "protocol"),
    [
        ("127.0.0.1:8080", "http"),
        ("http://127.0.0.1:8080", "http"),
        ("localhost:1", "http"),
        ("ecs.cn-hangzhou.aliyuncs.com", "https"),
        ("ecs-vpc.cn-hangzhou.aliyuncs.com:443", "https"),
    ],
)
def test_api_protocol_is_http_only_for_loopback(endpoint: str, protocol: str) -> None:
    assert api_protocol(endpoint) == protocol


def test_retry_policy_backs_off_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=5, first_delay_s=0.5, max_delay_s=3.0)

    assert [policy.delay_s(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert policy.delay_s(1, retry_after_ms=2500) == 2.5


def _client_error(code: str, status: int = 403) -> ClientException:
    return ClientException(
        status_code=status,
        code=code,
        message=f"code: {status}, msg request id: r",
        data={"Code": code, "Message": "msg"},
        request_id="r",
    )


def test_translate_error_sorts_codes() -> None:
    nostock = translate_error(
        "RunInstances", _client_error("OperationDenied.NoStock"), "x"
    )
    balance = translate_error(
        "RunInstances", _client_error("InvalidAccountStatus.NotEnoughBalance"), "x"
    )
    quota = translate_error(
        "RunInstances", _client_error("QuotaExceed.ElasticQuota"), "x"
    )
    other = translate_error("RunInstances", _client_error("InvalidParameter", 400), "x")
    busy = translate_error(
        "DescribeInstances",
        ServerException(status_code=503, code="ServiceUnavailable", data={}),
        "x",
    )

    assert isinstance(nostock, CapacityError)
    assert isinstance(balance, ProvisionError)
    assert "top up" in (balance.hint or "")
    assert isinstance(quota, ProvisionError)
    assert "quota" in (quota.hint or "").lower()
    assert isinstance(other, ApiError)
    assert other.code == "InvalidParameter"
    assert not isinstance(busy, ProvisionError)
