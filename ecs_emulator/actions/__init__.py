"""The ECS actions the emulator answers, by name."""

from __future__ import annotations

from ecs_emulator.actions import (
    catalog_actions,
    instance_actions,
    network_actions,
    security_actions,
    tag_actions,
)
from ecs_emulator.actions.common import Handler

HANDLERS: dict[str, Handler] = {
    "DescribeRegions": catalog_actions.describe_regions,
    "DescribeZones": catalog_actions.describe_zones,
    "DescribeAvailableResource": catalog_actions.describe_available_resource,
    "DescribeImages": catalog_actions.describe_images,
    "DescribePrice": catalog_actions.describe_price,
    "CreateVpc": network_actions.create_vpc,
    "DescribeVpcs": network_actions.describe_vpcs,
    "DeleteVpc": network_actions.delete_vpc,
    "CreateVSwitch": network_actions.create_vswitch,
    "DescribeVSwitches": network_actions.describe_vswitches,
    "DeleteVSwitch": network_actions.delete_vswitch,
    "CreateSecurityGroup": security_actions.create_security_group,
    "AuthorizeSecurityGroup": security_actions.authorize_security_group,
    "AuthorizeSecurityGroupEgress": security_actions.authorize_security_group_egress,
    "DescribeSecurityGroups": security_actions.describe_security_groups,
    "DescribeSecurityGroupAttribute": (
        security_actions.describe_security_group_attribute
    ),
    "DeleteSecurityGroup": security_actions.delete_security_group,
    "ImportKeyPair": security_actions.import_key_pair,
    "DescribeKeyPairs": security_actions.describe_key_pairs,
    "DeleteKeyPairs": security_actions.delete_key_pairs,
    "RunInstances": instance_actions.run_instances,
    "DescribeInstances": instance_actions.describe_instances,
    "DescribeInstanceStatus": instance_actions.describe_instance_status,
    "DeleteInstance": instance_actions.delete_instance,
    "DeleteInstances": instance_actions.delete_instances,
    "ModifyInstanceAutoReleaseTime": (
        instance_actions.modify_instance_auto_release_time
    ),
    "DescribeUserData": instance_actions.describe_user_data,
    "TagResources": tag_actions.tag_resources,
    "UntagResources": tag_actions.untag_resources,
    "ListTagResources": tag_actions.list_tag_resources,
}

# Actions whose ClientToken makes a retry return the first answer.
IDEMPOTENT_ACTIONS = frozenset(
    {
        "RunInstances",
        "CreateSecurityGroup",
        "CreateVpc",
        "CreateVSwitch",
        "DeleteInstances",
    }
)
