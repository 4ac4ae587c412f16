"""The ECS API emulator, driven only through the official SDK client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_tea_openapi.exceptions import ClientException
from ecs_emulator import Delays, extract_host_key, render_host_key_script
from ecs_emulator.signature import (
    SignedRequest,
    v1_signature,
    v1_string_to_sign,
    v3_signature,
    v3_string_to_sign,
)
from ecs_emulator.userdata import extract_marker_dir
from emulator_helpers import (
    ALINUX_ARM,
    ARM_TYPE,
    REGION,
    ZONE,
    b64,
    create_group,
    default_vswitch,
    describe,
    fast_emulator,
    new_ed25519,
    release_time,
    run_one,
    run_request,
    wait_for_status,
)

from support.ecs import ECS_TEST_AK, make_ecs_client

pytestmark = pytest.mark.usefixtures("ecs_no_proxy")
REPO_ROOT = Path(__file__).resolve().parents[2]


# Signatures


def test_signature_v3_matches_reference_vector() -> None:
    headers = {
        "host": "127.0.0.1:8080",
        "x-acs-action": "DescribeInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2024-01-01T00:00:00Z",
        "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
        "accept": "application/json",
        "user-agent": "test",
        "x-acs-content-sha256": (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ),
    }
    query = {"RegionId": "cn-hangzhou", "InstanceIds": '["i-abc"]'}
    request = SignedRequest("POST", "/", query, {}, headers, b"")
    string_to_sign = v3_string_to_sign(request, tuple(headers))
    assert v3_signature(string_to_sign, "testsecret") == (
        "7e4827c9f36292204dfb52eb81ea0c01d62485d6e20afa1c207302bdd03f003c"
    )


def test_signature_v1_matches_reference_vector() -> None:
    params = {
        "Action": "DescribeInstances",
        "Format": "json",
        "Version": "2014-05-26",
        "Timestamp": "2024-01-01T00:00:00Z",
        "SignatureNonce": "n1",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": "testid",
        "RegionId": "cn-hangzhou",
        "InstanceIds": '["i-abc"]',
    }
    signature = v1_signature(v1_string_to_sign("POST", params), "testsecret")
    assert signature == "0J+opcrh1XL3kSNtKs2JnNk7SuE="


def test_signature_wrong_secret_is_refused(ecs_emulator) -> None:
    client = make_ecs_client(ecs_emulator, access_key_secret="not-the-secret")
    with pytest.raises(ClientException) as caught:
        client.describe_regions(ecs.DescribeRegionsRequest())
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.status_code == 400
    assert "server string to sign is:" in caught.value.message


def test_signature_unknown_access_key_is_refused(ecs_emulator) -> None:
    client = make_ecs_client(ecs_emulator, access_key_id="nobody")
    with pytest.raises(ClientException) as caught:
        client.describe_regions(ecs.DescribeRegionsRequest())
    assert caught.value.code == "InvalidAccessKeyId.NotFound"
    assert caught.value.status_code == 404


def test_signature_v1_rpc_requests_are_accepted(ecs_emulator) -> None:
    client = make_ecs_client(ecs_emulator, signature_algorithm="v2")
    response = client.describe_zones(ecs.DescribeZonesRequest(region_id=REGION))
    assert ZONE in [z.zone_id for z in response.body.zones.zone]
    bad = make_ecs_client(
        ecs_emulator, signature_algorithm="v2", access_key_secret="wrong"
    )
    with pytest.raises(ClientException, match="SignatureDoesNotMatch"):
        bad.describe_zones(ecs.DescribeZonesRequest(region_id=REGION))


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_signature_covers_unicode_and_reserved_characters(
    ecs_emulator, algorithm
) -> None:
    client = make_ecs_client(ecs_emulator, signature_algorithm=algorithm)
    name = "名字 a+b*c~d/e=f&g%20"
    group_id = _create_named_group(client, name)
    groups = client.describe_security_groups(
        ecs.DescribeSecurityGroupsRequest(
            region_id=REGION, security_group_ids=f'["{group_id}"]'
        )
    ).body.security_groups.security_group
    assert groups[0].security_group_name == name


def _create_named_group(client, name: str) -> str:
    vpc_id = default_vswitch(client).vpc_id
    request = ecs.CreateSecurityGroupRequest(
        region_id=REGION, vpc_id=vpc_id, security_group_name=name
    )
    return client.create_security_group(request).body.security_group_id


def test_dispatch_records_calls_with_their_outcome(ecs_emulator, ecs_client) -> None:
    ecs_client.describe_regions(ecs.DescribeRegionsRequest())
    with pytest.raises(ClientException):
        ecs_client.describe_zones(ecs.DescribeZonesRequest(region_id="xx-nowhere-1"))
    calls = ecs_emulator.state.calls
    assert [(c.action, c.status) for c in calls] == [
        ("DescribeRegions", 200),
        ("DescribeZones", 404),
    ]
    assert calls[1].code == "InvalidRegionId.NotFound"
    assert calls[1].params["RegionId"] == "xx-nowhere-1"


# Catalog


def test_describe_regions_lists_the_main_region(ecs_client) -> None:
    regions = ecs_client.describe_regions(ecs.DescribeRegionsRequest()).body
    names = {r.region_id: r for r in regions.regions.region}
    assert names[REGION].status == "available"
    assert names[REGION].region_endpoint == "ecs.cn-hangzhou.aliyuncs.com"
    assert regions.request_id


def test_describe_zones_lists_arm_types_and_vswitch_creation(ecs_client) -> None:
    zones = ecs_client.describe_zones(ecs.DescribeZonesRequest(region_id=REGION))
    zone = {z.zone_id: z for z in zones.body.zones.zone}[ZONE]
    assert ARM_TYPE in zone.available_instance_types.instance_types
    assert "VSwitch" in zone.available_resource_creation.resource_types


def test_describe_available_resource_reports_stock_per_zone(ecs_client) -> None:
    request = ecs.DescribeAvailableResourceRequest(
        region_id=REGION,
        destination_resource="InstanceType",
        instance_type=ARM_TYPE,
        instance_charge_type="PostPaid",
    )
    zones = ecs_client.describe_available_resource(request).body
    found = zones.available_zones.available_zone
    assert len(found) == 4
    resource = found[0].available_resources.available_resource[0]
    supported = resource.supported_resources.supported_resource
    assert resource.type == "InstanceType"
    assert [(s.value, s.status_category) for s in supported] == [
        (ARM_TYPE, "WithStock")
    ]


def test_describe_images_finds_arm64_families_newest_first(ecs_client) -> None:
    request = ecs.DescribeImagesRequest(
        region_id=REGION,
        image_owner_alias="system",
        architecture="arm64",
        image_family="acs:alibaba_cloud_linux_3_2104_lts_arm64",
        instance_type=ARM_TYPE,
        page_size=100,
    )
    images = ecs_client.describe_images(request).body
    assert [i.image_id for i in images.images.image] == [
        ALINUX_ARM,
        "aliyun_3_arm64_20G_alibase_20240101.vhd",
    ]
    anolis = ecs_client.describe_images(
        ecs.DescribeImagesRequest(
            region_id=REGION, image_family="acs:anolis_8_10_rhck_arm64"
        )
    ).body.images.image
    assert anolis[0].architecture == "arm64"
    assert anolis[0].osname.startswith("Anolis OS 8")
    assert images.total_count == 2


def test_describe_images_for_an_arm_type_excludes_x86(ecs_client) -> None:
    request = ecs.DescribeImagesRequest(
        region_id=REGION, instance_type=ARM_TYPE, page_size=100
    )
    images = ecs_client.describe_images(request).body.images.image
    assert images
    assert {i.architecture for i in images} == {"arm64"}


def test_describe_price_is_hourly_and_spot_is_cheaper(ecs_client) -> None:
    def price(spot: str) -> float:
        request = ecs.DescribePriceRequest(
            region_id=REGION,
            resource_type="instance",
            instance_type=ARM_TYPE,
            price_unit="Hour",
            spot_strategy=spot,
            system_disk=ecs.DescribePriceRequestSystemDisk(
                category="cloud_essd", size=40
            ),
        )
        body = ecs_client.describe_price(request).body
        assert body.price_info.price.currency == "CNY"
        return body.price_info.price.trade_price

    on_demand, spot = price("NoSpot"), price("SpotAsPriceGo")
    assert 0 < spot < on_demand


# Network


def test_default_vpc_and_vswitches_exist_but_are_not_run_resources(
    ecs_emulator, ecs_client
) -> None:
    vpcs = ecs_client.describe_vpcs(
        ecs.DescribeVpcsRequest(region_id=REGION, is_default=True)
    ).body.vpcs.vpc
    assert len(vpcs) == 1
    assert vpcs[0].status == "Available"
    vswitch = default_vswitch(ecs_client)
    assert vswitch.is_default
    assert vswitch.vpc_id == vpcs[0].vpc_id
    assert ecs_emulator.state.live_resources().is_empty()


def test_default_network_can_be_absent() -> None:
    with fast_emulator(default_vpc=False) as (_, client):
        vpcs = client.describe_vpcs(ecs.DescribeVpcsRequest(region_id=REGION))
        assert vpcs.body.vpcs.vpc == []
        assert vpcs.body.total_count == 0
    with fast_emulator(default_vswitch_zones=["cn-hangzhou-i"]) as (_, client):
        request = ecs.DescribeVSwitchesRequest(region_id=REGION, is_default=True)
        found = client.describe_vswitches(request).body.v_switches.v_switch
        assert [v.zone_id for v in found] == ["cn-hangzhou-i"]


def test_vpc_and_vswitch_lifecycle_with_dependency_checks() -> None:
    delays = Delays(pending_s=0.05, starting_s=0.05, stopping_s=0.05, vpc_s=0.2)
    with fast_emulator(delays=delays) as (emulator, client):
        created = client.create_vpc(
            ecs.CreateVpcRequest(region_id=REGION, cidr_block="10.10.0.0/16")
        ).body
        vpc = client.describe_vpcs(
            ecs.DescribeVpcsRequest(region_id=REGION, vpc_id=created.vpc_id)
        ).body.vpcs.vpc[0]
        assert vpc.status == "Pending"
        time.sleep(0.25)
        vswitch_id = client.create_vswitch(
            ecs.CreateVSwitchRequest(
                region_id=REGION,
                vpc_id=created.vpc_id,
                zone_id=ZONE,
                cidr_block="10.10.1.0/24",
            )
        ).body.v_switch_id
        assert set(emulator.state.live_resources().vswitches) == {vswitch_id}
        with pytest.raises(ClientException) as caught:
            client.delete_vpc(
                ecs.DeleteVpcRequest(region_id=REGION, vpc_id=created.vpc_id)
            )
        assert caught.value.code == "DependencyViolation.VSwitch"
        client.delete_vswitch(ecs.DeleteVSwitchRequest(v_switch_id=vswitch_id))
        client.delete_vpc(ecs.DeleteVpcRequest(region_id=REGION, vpc_id=created.vpc_id))
        assert emulator.state.live_resources().is_empty()


def test_create_vswitch_outside_the_vpc_block_is_refused(ecs_client) -> None:
    vpc_id = ecs_client.create_vpc(
        ecs.CreateVpcRequest(region_id=REGION, cidr_block="192.168.0.0/16")
    ).body.vpc_id
    request = ecs.CreateVSwitchRequest(
        region_id=REGION, vpc_id=vpc_id, zone_id=ZONE, cidr_block="10.0.0.0/24"
    )
    with pytest.raises(ClientException, match=r"InvalidCidrBlock\.Malformed"):
        ecs_client.create_vswitch(request)
    ecs_client.delete_vpc(ecs.DeleteVpcRequest(region_id=REGION, vpc_id=vpc_id))


# Security groups and key pairs


def test_security_group_rules_and_filters(ecs_emulator, ecs_client) -> None:
    vswitch = default_vswitch(ecs_client)
    group_id = create_group(ecs_client, vswitch.vpc_id, run_id="run-7")
    ssh = ecs.AuthorizeSecurityGroupRequestPermissions(
        ip_protocol="tcp", port_range="22/22", source_cidr_ip="203.0.113.0/24"
    )
    request = ecs.AuthorizeSecurityGroupRequest(
        region_id=REGION, security_group_id=group_id, permissions=[ssh]
    )
    ecs_client.authorize_security_group(request)
    ecs_client.authorize_security_group(request)  # the same rule again: no-op
    deny = ecs.AuthorizeSecurityGroupEgressRequestPermissions(
        ip_protocol="ALL",
        port_range="-1/-1",
        dest_cidr_ip="0.0.0.0/0",
        policy="drop",
        priority=100,
    )
    ecs_client.authorize_security_group_egress(
        ecs.AuthorizeSecurityGroupEgressRequest(
            region_id=REGION, security_group_id=group_id, permissions=[deny]
        )
    )
    rules = ecs_client.describe_security_group_attribute(
        ecs.DescribeSecurityGroupAttributeRequest(
            region_id=REGION, security_group_id=group_id
        )
    ).body.permissions.permission
    assert [(r.direction, r.ip_protocol, r.port_range, r.policy) for r in rules] == [
        ("ingress", "TCP", "22/22", "Accept"),
        ("egress", "ALL", "-1/-1", "Drop"),
    ]
    tag = ecs.DescribeSecurityGroupsRequestTag(key="siteproof:run", value="run-7")
    groups = ecs_client.describe_security_groups(
        ecs.DescribeSecurityGroupsRequest(region_id=REGION, tag=[tag])
    ).body.security_groups.security_group
    assert [g.security_group_id for g in groups] == [group_id]
    assert groups[0].tags.tag[0].tag_value == "run-7"


def test_authorize_security_group_rejects_bad_port_range(ecs_client) -> None:
    group_id = create_group(ecs_client, default_vswitch(ecs_client).vpc_id)
    bad = ecs.AuthorizeSecurityGroupRequestPermissions(
        ip_protocol="TCP", port_range="22", source_cidr_ip="0.0.0.0/0"
    )
    request = ecs.AuthorizeSecurityGroupRequest(
        region_id=REGION, security_group_id=group_id, permissions=[bad]
    )
    with pytest.raises(ClientException, match=r"InvalidIpPortRange\.Malformed"):
        ecs_client.authorize_security_group(request)


def test_delete_security_group_is_refused_while_an_instance_uses_it() -> None:
    with fast_emulator() as (emulator, client):
        request = run_request(client)
        instance_id = client.run_instances(
            request
        ).body.instance_id_sets.instance_id_set[0]
        delete = ecs.DeleteSecurityGroupRequest(
            region_id=REGION, security_group_id=request.security_group_id
        )
        with pytest.raises(ClientException) as caught:
            client.delete_security_group(delete)
        assert (caught.value.code, caught.value.status_code) == (
            "DependencyViolation",
            403,
        )
        wait_for_status(client, instance_id, "Running")
        client.delete_instance(
            ecs.DeleteInstanceRequest(instance_id=instance_id, force=True)
        )
        assert emulator.state.wait_until_gone()
        client.delete_security_group(delete)
        assert emulator.state.live_resources().is_empty()


def test_key_pair_import_describe_and_delete(ecs_emulator, ecs_client) -> None:
    _, public = new_ed25519()
    imported = ecs_client.import_key_pair(
        ecs.ImportKeyPairRequest(
            region_id=REGION, key_pair_name="siteproof-r1", public_key_body=public
        )
    ).body
    assert imported.key_pair_finger_print
    with pytest.raises(ClientException, match=r"KeyPair\.AlreadyExist"):
        ecs_client.import_key_pair(
            ecs.ImportKeyPairRequest(
                region_id=REGION, key_pair_name="siteproof-r1", public_key_body=public
            )
        )
    pairs = ecs_client.describe_key_pairs(
        ecs.DescribeKeyPairsRequest(
            region_id=REGION, key_pair_name="siteproof-*", include_public_key=True
        )
    ).body.key_pairs.key_pair
    assert [(p.key_pair_name, p.public_key) for p in pairs] == [
        ("siteproof-r1", public)
    ]
    ecs_client.delete_key_pairs(
        ecs.DeleteKeyPairsRequest(region_id=REGION, key_pair_names='["siteproof-r1"]')
    )
    assert ecs_emulator.state.live_resources().is_empty()


def test_import_key_pair_rejects_a_malformed_key(ecs_client) -> None:
    request = ecs.ImportKeyPairRequest(
        region_id=REGION, key_pair_name="bad-key", public_key_body="ssh-ed25519 xyz"
    )
    with pytest.raises(ClientException, match=r"InvalidPublicKeyBody\.Malformed"):
        ecs_client.import_key_pair(request)


# Instances


def test_run_instances_goes_pending_starting_running_with_public_ip() -> None:
    delays = Delays(pending_s=0.15, starting_s=0.15, stopping_s=0.05)
    with fast_emulator(delays=delays) as (_, client):
        instance_id = run_one(client)
        seen = wait_for_status(client, instance_id, "Running")
        assert seen == ["Pending", "Starting", "Running"]
        instance = describe(client, instance_id)
        assert instance.public_ip_address.ip_address[0].startswith("198.51.100.")
        assert instance.vpc_attributes.private_ip_address.ip_address
        assert (instance.cpu, instance.memory) == (2, 4096)
        assert instance.start_time
        assert instance.auto_release_time == ""
        client.delete_instance(
            ecs.DeleteInstanceRequest(instance_id=instance_id, force=True)
        )
        assert wait_for_status(client, instance_id, "<gone>")[0] == "Stopping"


def test_run_instances_without_bandwidth_gets_no_public_ip() -> None:
    with fast_emulator() as (_, client):
        instance_id = run_one(client, internet_max_bandwidth_out=0)
        wait_for_status(client, instance_id, "Running")
        assert describe(client, instance_id).public_ip_address.ip_address == []


def test_run_instances_client_token_is_idempotent() -> None:
    with fast_emulator() as (emulator, client):
        request = run_request(client, client_token="siteproof-token-1")
        first = client.run_instances(request).body.instance_id_sets.instance_id_set
        again = client.run_instances(request).body.instance_id_sets.instance_id_set
        assert first == again
        assert len(emulator.state.live_resources().instances) == 1
        request.instance_type = "ecs.g8y.large"
        with pytest.raises(ClientException) as caught:
            client.run_instances(request)
        assert caught.value.code == "IdempotentParameterMismatch"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"user_data": b64(b"x" * (32 * 1024 + 1))}, "InvalidUserData.SizeExceeded"),
        ({"user_data": "not base64!"}, "InvalidUserData.Base64FormatInvalid"),
        ({"auto_release_time": release_time(10)}, "InvalidAutoReleaseTime.Malformed"),
        ({"auto_release_time": "tomorrow"}, "InvalidAutoReleaseTime.Malformed"),
        (
            {"image_id": "aliyun_3_x64_20G_alibase_20240819.vhd"},
            "InvalidInstanceType.NotSupported",
        ),
        ({"instance_type": "ecs.nope.large"}, "InvalidInstanceType.ValueNotSupported"),
        ({"key_pair_name": "missing"}, "InvalidKeyPairName.NotFound"),
        ({"spot_strategy": "Cheap"}, "InvalidSpotStrategy"),
        ({"dry_run": True}, "DryRunOperation"),
    ],
)
def test_run_instances_rejects_bad_parameters(
    ecs_emulator, ecs_client, overrides, code
) -> None:
    with pytest.raises(ClientException) as caught:
        ecs_client.run_instances(run_request(ecs_client, **overrides))
    assert caught.value.code == code
    assert ecs_emulator.state.live_resources().instances == ()


def test_run_instances_accepts_user_data_at_the_size_limit(ecs_client) -> None:
    instance_id = run_one(ecs_client, user_data=b64(b"#" * (32 * 1024)))
    user_data = ecs_client.describe_user_data(
        ecs.DescribeUserDataRequest(region_id=REGION, instance_id=instance_id)
    ).body
    assert user_data.user_data == b64(b"#" * (32 * 1024))


def test_run_instances_with_image_family_uses_the_newest_image(ecs_client) -> None:
    instance_id = run_one(
        ecs_client,
        image_id=None,
        image_family="acs:alibaba_cloud_linux_3_2104_lts_arm64",
    )
    assert describe(ecs_client, instance_id).image_id == ALINUX_ARM


def test_auto_release_time_is_honoured_on_the_emulator_clock() -> None:
    with fast_emulator() as (emulator, client):
        instance_id = run_one(client, auto_release_time=release_time(31))
        wait_for_status(client, instance_id, "Running")
        assert describe(client, instance_id).auto_release_time.endswith("Z")
        emulator.clock.advance(30 * 60)
        assert describe(client, instance_id).status == "Running"
        emulator.clock.advance(2 * 60)
        assert wait_for_status(client, instance_id, "<gone>")[0] == "Stopping"


def test_modify_instance_auto_release_time_sets_and_cancels() -> None:
    with fast_emulator() as (emulator, client):
        instance_id = run_one(client)
        modify = ecs.ModifyInstanceAutoReleaseTimeRequest(
            region_id=REGION,
            instance_id=instance_id,
            auto_release_time=release_time(45),
        )
        client.modify_instance_auto_release_time(modify)
        assert describe(client, instance_id).auto_release_time != ""
        modify.auto_release_time = None
        client.modify_instance_auto_release_time(modify)
        emulator.clock.advance(3600)
        assert describe(client, instance_id).auto_release_time == ""
        modify.auto_release_time = release_time(5)
        with pytest.raises(ClientException, match="InvalidAutoReleaseTime"):
            client.modify_instance_auto_release_time(modify)


def test_describe_instances_paginates_by_page_and_by_token(ecs_client) -> None:
    request = run_request(ecs_client, amount=5)
    ids = ecs_client.run_instances(request).body.instance_id_sets.instance_id_set
    assert len(ids) == 5
    second = ecs_client.describe_instances(
        ecs.DescribeInstancesRequest(region_id=REGION, page_size=2, page_number=2)
    ).body
    assert [i.instance_id for i in second.instances.instance] == ids[2:4]
    assert (second.total_count, second.page_number, second.page_size) == (5, 2, 2)
    seen, token = [], None
    while True:
        body = ecs_client.describe_instances(
            ecs.DescribeInstancesRequest(
                region_id=REGION, max_results=2, next_token=token
            )
        ).body
        seen += [i.instance_id for i in body.instances.instance]
        token = body.next_token
        if not token:
            break
    assert seen == ids


def test_describe_instances_filters_by_tag_and_ids(ecs_client) -> None:
    mine = run_one(
        ecs_client, tag=[ecs.RunInstancesRequestTag(key="siteproof:run", value="a")]
    )
    other = run_one(
        ecs_client, tag=[ecs.RunInstancesRequestTag(key="siteproof:run", value="b")]
    )
    tag = ecs.DescribeInstancesRequestTag(key="siteproof:run", value="a")
    found = ecs_client.describe_instances(
        ecs.DescribeInstancesRequest(region_id=REGION, tag=[tag])
    ).body.instances.instance
    assert [i.instance_id for i in found] == [mine]
    assert found[0].tags.tag[0].tag_key == "siteproof:run"
    by_key = ecs_client.describe_instances(
        ecs.DescribeInstancesRequest(
            region_id=REGION, tag=[ecs.DescribeInstancesRequestTag(key="siteproof:run")]
        )
    ).body.instances.instance
    assert {i.instance_id for i in by_key} == {mine, other}
    assert describe(ecs_client, "i-doesnotexist") is None


def test_describe_instance_status_lists_ids_and_states(ecs_client) -> None:
    instance_id = run_one(ecs_client)
    statuses = ecs_client.describe_instance_status(
        ecs.DescribeInstanceStatusRequest(region_id=REGION, instance_id=[instance_id])
    ).body
    entry = statuses.instance_statuses.instance_status[0]
    assert entry.instance_id == instance_id
    assert entry.status in ("Pending", "Starting", "Running")
    assert statuses.total_count == 1


def test_delete_instance_needs_force_while_running_and_waits_out_pending() -> None:
    delays = Delays(pending_s=0.3, starting_s=0.05, stopping_s=0.05)
    with fast_emulator(delays=delays) as (emulator, client):
        instance_id = run_one(client)
        delete = ecs.DeleteInstanceRequest(instance_id=instance_id)
        with pytest.raises(
            ClientException, match=r"IncorrectInstanceStatus\.Initializing"
        ):
            client.delete_instance(delete)
        wait_for_status(client, instance_id, "Running")
        with pytest.raises(ClientException) as caught:
            client.delete_instance(delete)
        assert (caught.value.code, caught.value.status_code) == (
            "IncorrectInstanceStatus",
            403,
        )
        delete.force = True
        client.delete_instance(delete)
        assert emulator.state.wait_until_gone()
        with pytest.raises(ClientException) as caught:
            client.delete_instance(delete)
        assert caught.value.code == "InvalidInstanceId.NotFound"


def test_delete_instances_releases_all_listed(ecs_emulator, ecs_client) -> None:
    ids = ecs_client.run_instances(run_request(ecs_client, amount=3)).body
    ids = ids.instance_id_sets.instance_id_set
    for instance_id in ids:
        wait_for_status(ecs_client, instance_id, "Running")
    ecs_client.delete_instances(
        ecs.DeleteInstancesRequest(region_id=REGION, instance_id=ids, force=True)
    )
    assert ecs_emulator.state.wait_until_gone()


def test_tag_resources_and_list_tag_resources(ecs_client) -> None:
    instance_id = run_one(ecs_client)
    ecs_client.tag_resources(
        ecs.TagResourcesRequest(
            region_id=REGION,
            resource_type="instance",
            resource_id=[instance_id],
            tag=[ecs.TagResourcesRequestTag(key="siteproof:run", value="z9")],
        )
    )
    listed = ecs_client.list_tag_resources(
        ecs.ListTagResourcesRequest(
            region_id=REGION,
            resource_type="instance",
            tag=[ecs.ListTagResourcesRequestTag(key="siteproof:run", value="z9")],
        )
    ).body.tag_resources.tag_resource
    assert [(t.resource_id, t.tag_key, t.tag_value) for t in listed] == [
        (instance_id, "siteproof:run", "z9")
    ]
    with pytest.raises(ClientException, match=r"InvalidResourceId\.NotFound"):
        ecs_client.tag_resources(
            ecs.TagResourcesRequest(
                region_id=REGION,
                resource_type="instance",
                resource_id=["i-gone"],
                tag=[ecs.TagResourcesRequestTag(key="k", value="v")],
            )
        )


def test_tag_keys_with_reserved_prefixes_are_refused(ecs_client) -> None:
    tag = ecs.RunInstancesRequestTag(key="aliyun:owner", value="x")
    with pytest.raises(ClientException, match=r"InvalidTagKey\.Malformed"):
        ecs_client.run_instances(run_request(ecs_client, tag=[tag]))


# Host factory hook and user data


class RecordingFactory:
    """A real (if trivial) host factory that remembers what it was asked."""

    def __init__(self) -> None:
        self.created: list = []
        self.destroyed: list = []

    def create(self, spec):
        self.created.append(spec)
        return "198.51.100.252", f"host-{spec.instance_id}"

    def destroy(self, handle) -> None:
        self.destroyed.append(handle)


def test_host_factory_gets_key_and_user_data_and_is_destroyed() -> None:
    factory = RecordingFactory()
    private, public = new_ed25519()
    script = render_host_key_script(private, "echo ready\n").encode()
    with fast_emulator(host_factory=factory) as (_, client):
        client.import_key_pair(
            ecs.ImportKeyPairRequest(
                region_id=REGION, key_pair_name="kp1", public_key_body=public
            )
        )
        instance_id = run_one(client, key_pair_name="kp1", user_data=b64(script))
        wait_for_status(client, instance_id, "Running")
        spec = factory.created[0]
        assert (spec.public_key, spec.user_data, spec.start_sshd) == (
            public,
            script,
            True,
        )
        assert spec.architecture == "arm64"
        assert spec.page_size == 4096
        assert extract_host_key(spec.user_data) == private
        assert describe(client, instance_id).public_ip_address.ip_address == [
            "198.51.100.252"
        ]
        second = run_one(
            client, image_id="anolisos_8_10_arm64_20G_rhck_alibase_20240819.vhd"
        )
        wait_for_status(client, second, "Running")
        assert factory.created[1].page_size == 65536
        client.delete_instance(
            ecs.DeleteInstanceRequest(instance_id=instance_id, force=True)
        )
        wait_for_status(client, instance_id, "<gone>")
        assert factory.destroyed == [f"host-{instance_id}"]
    assert factory.destroyed == [f"host-{instance_id}", f"host-{second}"]


def test_extract_host_key_ignores_scripts_without_the_heredoc() -> None:
    assert extract_host_key(b"#!/bin/sh\necho hi\n") is None
    assert extract_host_key(None) is None


def test_extract_marker_dir_reads_one_shell_word() -> None:
    assert extract_marker_dir(b"#!/bin/sh\nmarkers=/var/lib/siteproof\n") == (
        "/var/lib/siteproof"
    )
    assert extract_marker_dir(b"markers='/tmp/a b'\n") == "/tmp/a b"
    assert extract_marker_dir(b"markers=relative\n") is None
    assert extract_marker_dir(b"echo markers=/x\n") is None


# Standalone use


def test_admin_endpoint_reports_live_resources(ecs_emulator, ecs_client) -> None:
    group_id = create_group(ecs_client, default_vswitch(ecs_client).vpc_id)
    with urllib.request.urlopen(f"{ecs_emulator.url}/_emulator/resources") as reply:
        live = json.load(reply)
    assert live["security_groups"] == [group_id]


def test_module_runs_standalone_and_prints_its_endpoint() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecs_emulator",
            "--port",
            "0",
            "--access-key-id",
            ECS_TEST_AK,
            "--access-key-secret",
            "s3",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("endpoint: 127.0.0.1:")
        client = make_ecs_client(line.split()[1], access_key_secret="s3")
        regions = client.describe_regions(ecs.DescribeRegionsRequest()).body
        assert regions.regions.region
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
