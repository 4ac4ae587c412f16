"""Fault injection in the ECS API emulator, seen through the official SDK."""

from __future__ import annotations

import time

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from emulator_helpers import (
    ARM_TYPE,
    REGION,
    ZONE,
    describe,
    fast_emulator,
    run_one,
    wait_for_status,
)

pytestmark = pytest.mark.usefixtures("ecs_no_proxy")
OTHER_ZONE = "cn-hangzhou-i"


def _regions(client) -> list[str]:
    body = client.describe_regions(ecs.DescribeRegionsRequest()).body
    return [r.region_id for r in body.regions.region]


def _stock(client) -> dict[str, str]:
    request = ecs.DescribeAvailableResourceRequest(
        region_id=REGION, destination_resource="InstanceType", instance_type=ARM_TYPE
    )
    zones = client.describe_available_resource(request).body.available_zones
    return {z.zone_id: z.status_category for z in zones.available_zone}


def test_faults_throttle_burst_then_recovers(ecs_emulator, ecs_client) -> None:
    ecs_emulator.faults.throttle("DescribeRegions", times=2)
    for _ in range(2):
        with pytest.raises(ClientException) as caught:
            _regions(ecs_client)
        assert (caught.value.code, caught.value.status_code) == ("Throttling.User", 400)
        assert "flow control" in caught.value.message
    assert REGION in _regions(ecs_client)
    ecs_client.describe_zones(ecs.DescribeZonesRequest(region_id=REGION))


def test_faults_throttle_with_retry_after_raises_throttling_exception(
    ecs_emulator, ecs_client
) -> None:
    ecs_emulator.faults.throttle(times=1, code="Throttling", retry_after_ms=1500)
    with pytest.raises(ThrottlingException) as caught:
        _regions(ecs_client)
    assert caught.value.code == "Throttling"
    assert caught.value.retry_after == 1500


def test_faults_unavailable_and_internal_error_are_server_errors(
    ecs_emulator, ecs_client
) -> None:
    ecs_emulator.faults.unavailable("DescribeRegions")
    with pytest.raises(ServerException) as caught:
        _regions(ecs_client)
    assert (caught.value.code, caught.value.status_code) == ("ServiceUnavailable", 503)
    ecs_emulator.faults.internal_error()
    with pytest.raises(ServerException) as caught:
        _regions(ecs_client)
    assert (caught.value.code, caught.value.status_code) == ("InternalError", 500)
    assert _regions(ecs_client)


def test_faults_fail_without_count_lasts_until_cleared(
    ecs_emulator, ecs_client
) -> None:
    ecs_emulator.faults.fail(
        "DescribeRegions", "Forbidden.RAM", "User not authorized.", 403, times=None
    )
    for _ in range(3):
        with pytest.raises(ClientException, match="not authorized"):
            _regions(ecs_client)
    ecs_emulator.faults.clear()
    assert _regions(ecs_client)


def test_faults_no_stock_in_one_zone_shows_and_refuses() -> None:
    with fast_emulator() as (emulator, client):
        emulator.faults.no_stock(zones=[ZONE])
        stock = _stock(client)
        assert (stock[ZONE], stock[OTHER_ZONE]) == ("WithoutStock", "WithStock")
        with pytest.raises(ClientException) as caught:
            run_one(client, zone=ZONE)
        assert (caught.value.code, caught.value.status_code) == (
            "OperationDenied.NoStock",
            403,
        )
        assert run_one(client, zone=OTHER_ZONE).startswith("i-")
        assert len(emulator.state.live_resources().instances) == 1


def test_faults_hidden_no_stock_for_one_type_only_fails_the_run() -> None:
    with fast_emulator() as (emulator, client):
        emulator.faults.no_stock(instance_types=[ARM_TYPE], hidden=True)
        assert set(_stock(client).values()) == {"WithStock"}
        with pytest.raises(ClientException, match=r"OperationDenied\.NoStock"):
            run_one(client)
        assert run_one(client, instance_type="ecs.g8y.large").startswith("i-")


def test_faults_zone_not_on_sale() -> None:
    with fast_emulator() as (emulator, client):
        emulator.faults.zone_not_on_sale([ZONE])
        assert _stock(client)[ZONE] == "ClosedWithoutStock"
        with pytest.raises(ClientException) as caught:
            run_one(client, zone=ZONE)
        assert (caught.value.code, caught.value.status_code) == ("Zone.NotOnSale", 403)


@pytest.mark.parametrize(
    ("inject", "code"),
    [
        ("not_enough_balance", "InvalidAccountStatus.NotEnoughBalance"),
        ("quota_exceeded", "QuotaExceed.ElasticQuota"),
    ],
)
def test_faults_account_errors_refuse_run_instances(inject, code) -> None:
    with fast_emulator() as (emulator, client):
        getattr(emulator.faults, inject)()
        for _ in range(2):
            with pytest.raises(ClientException) as caught:
                run_one(client)
            assert (caught.value.code, caught.value.status_code) == (code, 403)
        assert emulator.state.live_resources().instances == ()


def test_faults_never_running_instance_stays_starting_but_can_be_deleted() -> None:
    with fast_emulator() as (emulator, client):
        emulator.faults.never_running()
        stuck = run_one(client)
        healthy = run_one(client)
        wait_for_status(client, healthy, "Running")
        time.sleep(0.2)
        assert describe(client, stuck).status == "Starting"
        assert describe(client, stuck).public_ip_address.ip_address == []
        request = ecs.DeleteInstancesRequest(
            region_id=REGION, instance_id=[stuck, healthy], force=True
        )
        client.delete_instances(request)
        assert emulator.state.wait_until_gone()


def test_faults_ssh_never_opens_tells_the_factory_not_to_start_sshd() -> None:
    specs = []

    class Factory:
        def create(self, spec):
            specs.append(spec)
            return "198.51.100.253", spec.instance_id

        def destroy(self, handle) -> None:
            pass

    with fast_emulator(host_factory=Factory()) as (emulator, client):
        emulator.faults.ssh_never_opens()
        first, second = run_one(client), run_one(client)
        wait_for_status(client, first, "Running")
        wait_for_status(client, second, "Running")
    assert {s.instance_id: s.start_sshd for s in specs} == {first: False, second: True}


def test_faults_delete_fails_the_first_times() -> None:
    with fast_emulator() as (emulator, client):
        instance_id = run_one(client)
        wait_for_status(client, instance_id, "Running")
        emulator.faults.delete_fails(times=2)
        delete = ecs.DeleteInstanceRequest(instance_id=instance_id, force=True)
        for _ in range(2):
            with pytest.raises(ClientException) as caught:
                client.delete_instance(delete)
            assert caught.value.code == "IncorrectInstanceStatus"
        client.delete_instance(delete)
        assert emulator.state.wait_until_gone()
        codes = [c.code for c in emulator.state.calls_of("DeleteInstance")]
        assert codes == ["IncorrectInstanceStatus", "IncorrectInstanceStatus", ""]


def test_faults_user_data_outcomes_reach_the_factory() -> None:
    specs = []

    class Factory:
        def create(self, spec):
            specs.append(spec)
            return "198.51.100.254", spec.instance_id

        def destroy(self, handle) -> None:
            pass

    with fast_emulator(host_factory=Factory()) as (emulator, client):
        emulator.faults.user_data_fails()
        emulator.faults.user_data_hangs()
        ids = [run_one(client) for _ in range(3)]
        for instance_id in ids:
            wait_for_status(client, instance_id, "Running")
    outcomes = {s.instance_id: s.user_data_outcome for s in specs}
    assert [outcomes[i] for i in ids] == ["failed", "hang", "done"]
