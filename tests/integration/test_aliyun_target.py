"""--target aliyun end to end through the real SDK against the ECS emulator.

Every test ends by checking that the emulator holds no instance, security
group, key pair, VPC or vSwitch any more.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from ecs_emulator import EmulatorHandle, start_emulator

from siteproof.cli import main
from siteproof.errors import EXIT_INFRA, EXIT_TEARDOWN, ProvisionError, TeardownError
from siteproof.journal import open_runs, read_run
from siteproof.site import load_profile
from siteproof.targets import TargetOptions, create_target
from siteproof.targets.aliyun import AliyunTarget, ReleasePolicy, site_axes
from support.aliyun_cloud import FAST, calls, make_target, with_aliyun
from support.ecs import ECS_TEST_AK, ECS_TEST_SECRET


def test_aliyun_provision_and_release_leave_nothing(aliyun_emu: EmulatorHandle) -> None:
    target = make_target(aliyun_emu)

    facts = target.provision()
    live = aliyun_emu.state.live_resources()
    target.release()

    assert live.instances == (facts.instance_id,)
    assert facts.public_ip.startswith("198.51.100.")
    assert facts.instance_type == "ecs.c8y.large"
    assert facts.expected_page_size == 65536
    assert "rhck" in facts.image_name
    assert facts.hourly_price is not None
    assert facts.currency == "CNY"
    assert target.facts.billed_s is not None
    assert target.facts.cost is not None
    assert aliyun_emu.state.wait_until_gone(timeout_s=5)
    assert aliyun_emu.state.live_resources().is_empty()
    assert read_run(target._journal.path).is_finished  # type: ignore[union-attr]


def test_aliyun_progress_reports_each_wait_with_elapsed_time(
    aliyun_emu: EmulatorHandle,
) -> None:
    seen: list[tuple[str, float]] = []
    target = AliyunTarget(
        load_profile("kylin-v10-arm64"),
        options=replace(FAST, endpoint=aliyun_emu.endpoint),
        progress=lambda what, elapsed: seen.append((what, elapsed)),
    )
    try:
        facts = target.provision()
    finally:
        target.release()

    assert seen
    assert all(what == f"waiting for {facts.instance_id} to run" for what, _ in seen)
    assert seen[-1][1] >= seen[0][1] >= 0


def test_aliyun_target_is_built_from_the_target_spec() -> None:
    profile = load_profile("kylin-v10-arm64")
    target = create_target("aliyun:cn-shanghai", TargetOptions(profile=profile))

    assert isinstance(target, AliyunTarget)
    assert target.profile.aliyun.region == "cn-shanghai"
    assert target.host.kind == "aliyun"


def test_aliyun_run_instances_asks_for_a_safe_instance(
    aliyun_emu: EmulatorHandle,
) -> None:
    target = make_target(aliyun_emu)
    try:
        target.provision()
    finally:
        target.release()

    (run,) = calls(aliyun_emu, "RunInstances")
    assert run["InstanceChargeType"] == "PostPaid"
    assert int(run["InternetMaxBandwidthOut"]) > 0
    assert run["AutoReleaseTime"].endswith("Z")
    assert run["Tag.1.Key"] == "siteproof:run"
    assert run["Tag.1.Value"] == target.run_id
    assert run["ClientToken"].startswith("sp-")
    assert "UserData" in run
    (imported,) = calls(aliyun_emu, "ImportKeyPair")
    assert imported["PublicKeyBody"].startswith("ssh-ed25519 ")
    assert "PRIVATE" not in imported["PublicKeyBody"]
    (rule,) = calls(aliyun_emu, "AuthorizeSecurityGroup")
    assert rule["Permissions.1.PortRange"] == "22/22"


def test_aliyun_ssh_from_limits_the_rule_and_warns_only_for_everyone(
    aliyun_emu: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    office = with_aliyun(load_profile("kylin-v10-arm64"), ssh_from="203.0.113.0/24")
    for profile in (office, load_profile("kylin-v10-arm64")):
        target = make_target(aliyun_emu, profile)
        try:
            target.provision()
        finally:
            target.release()

    sources = [
        c["Permissions.1.SourceCidrIp"]
        for c in calls(aliyun_emu, "AuthorizeSecurityGroup")
    ]
    warnings = [r for r in caplog.records if "whole internet" in r.getMessage()]
    assert sources == ["203.0.113.0/24", "0.0.0.0/0"]
    assert len(warnings) == 1


def test_aliyun_spot_asks_for_a_spot_instance_at_the_spot_price(
    aliyun_emu: EmulatorHandle,
) -> None:
    prices = []
    for spot in (False, True):
        profile = with_aliyun(load_profile("kylin-v10-arm64"), spot=spot)
        target = make_target(aliyun_emu, profile)
        try:
            prices.append(target.provision().hourly_price or 0.0)
        finally:
            target.release()

    strategies = [c["SpotStrategy"] for c in calls(aliyun_emu, "RunInstances")]
    assert strategies == ["NoSpot", "SpotAsPriceGo"]
    assert 0 < prices[1] < prices[0]


def test_aliyun_4k_site_gets_alibaba_cloud_linux(aliyun_emu: EmulatorHandle) -> None:
    target = make_target(aliyun_emu, load_profile("generic-arm64"))
    try:
        facts = target.provision()
    finally:
        target.release()

    assert facts.image_name.startswith("aliyun_3_arm64")
    assert facts.image_name.endswith("20240819.vhd")  # the newest of the family
    assert site_axes(facts, target.profile)["page_size"]["match"] == "yes"


def test_aliyun_without_default_vpc_creates_and_releases_a_network(
    cloud_env: Path,
) -> None:
    aliyun_emu = start_emulator(
        access_keys={ECS_TEST_AK: ECS_TEST_SECRET}, default_vpc=False
    )
    try:
        target = make_target(aliyun_emu)
        try:
            facts = target.provision()
            live = aliyun_emu.state.live_resources()
        finally:
            target.release()
        assert len(live.vpcs) == 1
        assert len(live.vswitches) == 1
        assert not facts.default_network
        aliyun_emu.state.wait_until_gone(timeout_s=5)
        assert aliyun_emu.state.live_resources().is_empty()
    finally:
        aliyun_emu.stop()


def test_aliyun_no_stock_in_first_zone_moves_to_next_zone(
    aliyun_emu: EmulatorHandle,
) -> None:
    aliyun_emu.faults.no_stock(zones=["cn-hangzhou-h"], hidden=True)
    target = make_target(aliyun_emu)
    try:
        facts = target.provision()
    finally:
        target.release()

    assert facts.zone_id == "cn-hangzhou-i"
    assert facts.instance_type == "ecs.c8y.large"
    tokens = [c["ClientToken"] for c in calls(aliyun_emu, "RunInstances")]
    assert len(tokens) == 2
    assert len(set(tokens)) == 2  # a new purchase attempt gets a new token


def test_aliyun_no_stock_anywhere_moves_to_next_type(
    aliyun_emu: EmulatorHandle,
) -> None:
    aliyun_emu.faults.no_stock(instance_types=["ecs.c8y.large"], hidden=True)
    target = make_target(aliyun_emu)
    try:
        facts = target.provision()
    finally:
        target.release()

    assert facts.instance_type == "ecs.g8y.large"
    tried = {
        (c["InstanceType"], c["ZoneId"]) for c in calls(aliyun_emu, "RunInstances")
    }
    assert {t for t, _ in tried} == {"ecs.c8y.large", "ecs.g8y.large"}
    assert len([t for t, _ in tried if t == "ecs.c8y.large"]) == 4


def test_aliyun_sold_out_type_is_skipped_without_trying(
    aliyun_emu: EmulatorHandle,
) -> None:
    aliyun_emu.faults.no_stock(instance_types=["ecs.c8y.large"])
    target = make_target(aliyun_emu)
    try:
        facts = target.provision()
    finally:
        target.release()

    assert facts.instance_type == "ecs.g8y.large"
    assert [c["InstanceType"] for c in calls(aliyun_emu, "RunInstances")] == [
        "ecs.g8y.large"
    ]


def test_aliyun_no_stock_anywhere_is_a_provision_error(
    aliyun_emu: EmulatorHandle,
) -> None:
    aliyun_emu.faults.no_stock(hidden=True)
    target = make_target(aliyun_emu)
    with pytest.raises(ProvisionError, match="no ARM instance could be rented") as info:
        target.provision()
    target.release()

    assert "OperationDenied.NoStock" in info.value.message
    assert info.value.exit_code == EXIT_INFRA


def test_aliyun_throttling_is_retried_with_the_same_token(
    aliyun_emu: EmulatorHandle,
) -> None:
    aliyun_emu.faults.throttle(action="RunInstances", times=2)
    aliyun_emu.faults.throttle(action="DescribeInstances", times=1, retry_after_ms=10)
    target = make_target(aliyun_emu)
    try:
        target.provision()
        live = aliyun_emu.state.live_resources()
    finally:
        target.release()

    runs = calls(aliyun_emu, "RunInstances")
    assert len(runs) == 3
    assert len({c["ClientToken"] for c in runs}) == 1
    assert len(live.instances) == 1


def test_aliyun_server_errors_are_retried(aliyun_emu: EmulatorHandle) -> None:
    aliyun_emu.faults.unavailable(action="DescribeAvailableResource", times=2)
    aliyun_emu.faults.internal_error(action="CreateSecurityGroup", times=1)
    target = make_target(aliyun_emu)
    try:
        facts = target.provision()
    finally:
        target.release()

    assert facts.instance_id
    assert len(calls(aliyun_emu, "DescribeAvailableResource")) >= 3


@pytest.mark.parametrize(
    ("fault", "hint"),
    [("not_enough_balance", "top up"), ("quota_exceeded", "quota")],
)
def test_aliyun_account_errors_stop_at_once(
    aliyun_emu: EmulatorHandle, fault: str, hint: str
) -> None:
    getattr(aliyun_emu.faults, fault)()
    target = make_target(aliyun_emu)
    with pytest.raises(ProvisionError) as info:
        target.provision()
    target.release()

    assert info.value.exit_code == EXIT_INFRA
    assert hint in (info.value.hint or "").lower()
    assert len(calls(aliyun_emu, "RunInstances")) == 1  # no other zone, no other type


def test_aliyun_wrong_secret_names_the_fix(
    aliyun_emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret")
    target = make_target(aliyun_emu)
    with pytest.raises(ProvisionError, match="SignatureDoesNotMatch") as info:
        target.provision()
    target.release()

    assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in (info.value.hint or "")
    assert "not-the-secret" not in str(info.value)


def test_aliyun_missing_credentials_name_the_fix_without_asking_the_network(
    aliyun_emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID")
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    target = make_target(aliyun_emu)
    with pytest.raises(ProvisionError, match="no Alibaba Cloud credentials") as info:
        target.provision()
    target.release()

    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in (info.value.hint or "")
    assert aliyun_emu.state.calls == []  # and the guard saw no metadata probe


def test_aliyun_instance_never_running_times_out_and_releases(
    aliyun_emu: EmulatorHandle,
) -> None:
    aliyun_emu.faults.never_running()
    target = make_target(aliyun_emu, deadlines=replace(FAST.deadlines, running_s=1.0))
    with pytest.raises(ProvisionError, match="did not reach Running") as info:
        target.provision()
    instance_id = target.facts.instance_id
    target.release()

    assert instance_id in info.value.message
    assert "last status Starting" in info.value.message


def test_aliyun_failing_delete_is_retried(aliyun_emu: EmulatorHandle) -> None:
    aliyun_emu.faults.delete_fails(times=2)
    target = make_target(aliyun_emu)
    target.provision()
    target.release()

    assert len(calls(aliyun_emu, "DeleteInstance")) == 3


def test_aliyun_undeletable_instance_is_a_teardown_error_naming_every_id(
    aliyun_emu: EmulatorHandle,
) -> None:
    aliyun_emu.faults.delete_fails(times=1_000_000)
    target = make_target(aliyun_emu, release=ReleasePolicy(deadline_s=1.0, poll_s=0.1))
    facts = target.provision()
    with pytest.raises(TeardownError) as info:
        target.release()
    aliyun_emu.faults.clear()
    code = main(["cleanup", "--endpoint", aliyun_emu.endpoint])

    assert info.value.exit_code == EXIT_TEARDOWN
    assert set(info.value.resources) == {facts.instance_id, facts.security_group_id}
    assert facts.instance_id in info.value.message
    assert "siteproof cleanup" in (info.value.hint or "")
    assert code == 0


def test_aliyun_max_price_refuses_an_expensive_run(aliyun_emu: EmulatorHandle) -> None:
    profile = with_aliyun(load_profile("kylin-v10-arm64"), max_price=0.01)
    target = make_target(aliyun_emu, profile)
    with pytest.raises(ProvisionError, match="max_price") as info:
        target.provision()
    target.release()

    assert calls(aliyun_emu, "RunInstances") == []
    assert "max_price" in (info.value.hint or "")


def test_aliyun_keep_leaves_the_instance_with_auto_release(
    aliyun_emu: EmulatorHandle, cloud_env: Path
) -> None:
    target = make_target(aliyun_emu, keep=True)
    target.provision()
    target.release()

    live = aliyun_emu.state.live_resources()
    (run,) = open_runs()
    hint = target.login_hint()
    code = main(["cleanup", "--endpoint", aliyun_emu.endpoint])

    assert live.instances == (target.facts.instance_id,)
    assert run.is_kept
    assert "ssh -i " in hint
    assert target.facts.public_ip in hint
    assert (cloud_env / "runs" / target.run_id / "id_ed25519").exists()
    assert code == 0  # and the aliyun_emu fixture checks that cleanup released it all
