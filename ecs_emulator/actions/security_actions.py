"""Security group and key pair actions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from ecs_emulator.actions.common import (
    Body,
    match_name,
    match_tags,
    merge_tags,
    page,
    region_of,
    tags_body,
)
from ecs_emulator.clock import format_minutes, format_seconds
from ecs_emulator.errors import ApiError, invalid_parameter, not_found
from ecs_emulator.params import Params
from ecs_emulator.resources import KeyPair, Rule, SecurityGroup
from ecs_emulator.state import EmulatorState

PROTOCOLS = ("TCP", "UDP", "ICMP", "GRE", "ALL")
PORTLESS = ("ICMP", "GRE", "ALL")
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256")
KEY_PAIR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._:-]{1,127}$")
GROUP_TYPES = ("normal", "enterprise")


def create_security_group(state: EmulatorState, params: Params) -> Body:
    """CreateSecurityGroup: a group in a VPC, with optional tags."""
    region = region_of(params)
    vpc_id = params.require("VpcId")
    if vpc_id not in state.vpcs:
        raise not_found("InvalidVpcId.NotFound", "Specified VPC does not exist.")
    group_type = params.get("SecurityGroupType", "normal") or "normal"
    if group_type not in GROUP_TYPES:
        raise invalid_parameter("SecurityGroupType")
    group = SecurityGroup(
        state.new_id("sg", region.region_id),
        region.region_id,
        vpc_id,
        params.get("SecurityGroupName", "") or "",
        params.get("Description", "") or "",
        group_type,
        state.clock.now(),
    )
    merge_tags(group.tags, params.get_tags())
    state.security_groups[group.group_id] = group
    return {"SecurityGroupId": group.group_id}


def authorize_security_group(state: EmulatorState, params: Params) -> Body:
    """AuthorizeSecurityGroup: add ingress rules (existing ones are kept)."""
    _authorize(state, params, "ingress", "SourceCidrIp")
    return {}


def authorize_security_group_egress(state: EmulatorState, params: Params) -> Body:
    """AuthorizeSecurityGroupEgress: add egress rules."""
    _authorize(state, params, "egress", "DestCidrIp")
    return {}


def _authorize(
    state: EmulatorState, params: Params, direction: str, cidr_key: str
) -> None:
    region_of(params)
    group = find_group(state, params.require("SecurityGroupId"))
    records = params.get_records("Permissions")
    if records and params.get("IpProtocol"):
        raise ApiError(
            400,
            "InvalidParameter.Conflict",
            "Permissions.N and the deprecated rule parameters are exclusive.",
        )
    if not records:
        records = [{k: v for k, v in params.as_dict().items() if "." not in k}]
    for record in records:
        rule = _parse_rule(state, record, direction, cidr_key)
        if all(r.key() != rule.key() for r in group.rules):
            group.rules.append(rule)


def _parse_rule(
    state: EmulatorState, record: dict[str, str], direction: str, cidr_key: str
) -> Rule:
    protocol = record.get("IpProtocol", "").upper()
    if protocol not in PROTOCOLS:
        raise invalid_parameter("IpProtocol", "InvalidIpProtocol.Malformed")
    port_range = record.get("PortRange", "")
    if not _valid_port_range(protocol, port_range):
        raise invalid_parameter("PortRange", "InvalidIpPortRange.Malformed")
    cidr = record.get(cidr_key, "")
    if not cidr:
        raise ApiError(
            400,
            "MissingParameter",
            f'The input parameter "{cidr_key}" that is mandatory for '
            "processing this request is not supplied.",
        )
    policy = (record.get("Policy") or "accept").lower()
    if policy not in ("accept", "drop"):
        raise invalid_parameter("Policy", "InvalidPolicy.Malformed")
    priority_text = record.get("Priority") or "1"
    if not priority_text.isdigit() or not 1 <= int(priority_text) <= 100:
        raise invalid_parameter("Priority", "InvalidPriority.Malformed")
    return Rule(
        state.new_id("sgr", state.region),
        direction,
        protocol,
        port_range,
        cidr,
        policy,
        int(priority_text),
        record.get("Description", ""),
        state.clock.now(),
    )


def _valid_port_range(protocol: str, port_range: str) -> bool:
    if protocol in PORTLESS:
        return port_range == "-1/-1"
    match = re.fullmatch(r"(\d{1,5})/(\d{1,5})", port_range)
    if match is None:
        return False
    low, high = int(match[1]), int(match[2])
    return 1 <= low <= high <= 65535


def describe_security_groups(state: EmulatorState, params: Params) -> Body:
    """DescribeSecurityGroups: filter by VpcId, ids, name, type and tags."""
    region = region_of(params)
    ids = params.get_json_list("SecurityGroupIds")
    single = params.get("SecurityGroupId")
    tags = params.get_tags()
    groups = [
        g
        for g in state.security_groups.values()
        if g.region_id == region.region_id
        and params.get("VpcId") in (None, g.vpc_id)
        and (ids is None or g.group_id in ids)
        and single in (None, g.group_id)
        and match_name(params.get("SecurityGroupName"), g.name)
        and params.get("SecurityGroupType") in (None, g.group_type)
        and match_tags(g.tags, tags)
    ]
    selected, paging = page(groups, params, max_size=50)
    body = [_group_body(state, g) for g in selected]
    return {
        "SecurityGroups": {"SecurityGroup": body},
        **paging,
        "RegionId": region.region_id,
        "NextToken": "",
    }


def _group_body(state: EmulatorState, group: SecurityGroup) -> Body:
    members = sum(
        group.group_id in i.security_group_ids for i in state.instances.values()
    )
    return {
        "SecurityGroupId": group.group_id,
        "SecurityGroupName": group.name,
        "Description": group.description,
        "SecurityGroupType": group.group_type,
        "VpcId": group.vpc_id,
        "CreationTime": format_seconds(group.created_at),
        "EcsCount": members,
        "AvailableInstanceAmount": 2000 - members,
        "RuleCount": len(group.rules),
        "GroupToGroupRuleCount": 0,
        "ServiceManaged": False,
        "ResourceGroupId": "",
        "Tags": tags_body(group.tags),
    }


def describe_security_group_attribute(state: EmulatorState, params: Params) -> Body:
    """DescribeSecurityGroupAttribute: the group's rules."""
    region = region_of(params)
    group = find_group(state, params.require("SecurityGroupId"))
    direction = params.get("Direction", "all")
    rules = [r for r in group.rules if direction in ("all", r.direction)]
    return {
        "RegionId": region.region_id,
        "SecurityGroupId": group.group_id,
        "SecurityGroupName": group.name,
        "Description": group.description,
        "VpcId": group.vpc_id,
        "InnerAccessPolicy": "Accept",
        "NextToken": "",
        "Permissions": {"Permission": [_rule_body(r) for r in rules]},
    }


def _rule_body(rule: Rule) -> Body:
    cidr_field = "SourceCidrIp" if rule.direction == "ingress" else "DestCidrIp"
    return {
        "SecurityGroupRuleId": rule.rule_id,
        "Direction": rule.direction,
        "IpProtocol": rule.ip_protocol,
        "PortRange": rule.port_range,
        cidr_field: rule.cidr,
        "Policy": rule.policy.capitalize(),
        "Priority": str(rule.priority),
        "Description": rule.description,
        "NicType": "intranet",
        "CreateTime": format_seconds(rule.created_at),
    }


def delete_security_group(state: EmulatorState, params: Params) -> Body:
    """DeleteSecurityGroup: refused while an instance (even Stopping) uses it."""
    group = find_group(state, params.require("SecurityGroupId"))
    if any(group.group_id in i.security_group_ids for i in state.instances.values()):
        raise ApiError(
            403,
            "DependencyViolation",
            "There is still instance(s) in the specified security group.",
        )
    del state.security_groups[group.group_id]
    return {}


def find_group(state: EmulatorState, group_id: str) -> SecurityGroup:
    """Return a security group or raise 404 InvalidSecurityGroupId.NotFound."""
    group = state.security_groups.get(group_id)
    if group is None:
        raise not_found(
            "InvalidSecurityGroupId.NotFound",
            "The SecurityGroupId provided does not exist in our records.",
        )
    return group


def import_key_pair(state: EmulatorState, params: Params) -> Body:
    """ImportKeyPair: store a public key under a name unique in the region."""
    region = region_of(params)
    name = params.require("KeyPairName")
    if not KEY_PAIR_NAME.match(name):
        raise invalid_parameter("KeyPairName", "InvalidKeyPairName.Malformed")
    if (region.region_id, name) in state.key_pairs:
        raise ApiError(400, "KeyPair.AlreadyExist", "The key pair already exist.")
    body = params.require("PublicKeyBody").strip()
    pair = KeyPair(name, region.region_id, body, _fingerprint(body), state.clock.now())
    merge_tags(pair.tags, params.get_tags())
    state.key_pairs[(region.region_id, name)] = pair
    return {"KeyPairName": name, "KeyPairFingerPrint": pair.fingerprint}


def _fingerprint(public_key: str) -> str:
    """Return the MD5 hex of the key blob, or raise for a malformed key."""
    parts = public_key.split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, binascii.Error):
        raise _bad_key() from None
    kind_length = int.from_bytes(blob[:4], "big")
    if parts[0] not in KEY_TYPES or blob[4 : 4 + kind_length] != parts[0].encode():
        raise _bad_key()
    return hashlib.md5(blob).hexdigest()


def _bad_key() -> ApiError:
    return ApiError(
        400,
        "InvalidPublicKeyBody.Malformed",
        'The specified parameter "PublicKeyBody" is not valid.',
    )


def describe_key_pairs(state: EmulatorState, params: Params) -> Body:
    """DescribeKeyPairs: filter by name (``*`` wildcard), fingerprint, tags."""
    region = region_of(params)
    tags = params.get_tags()
    pairs = [
        p
        for (r, _), p in state.key_pairs.items()
        if r == region.region_id
        and match_name(params.get("KeyPairName"), p.name)
        and params.get("KeyPairFingerPrint") in (None, p.fingerprint)
        and match_tags(p.tags, tags)
    ]
    selected, paging = page(pairs, params, max_size=50)
    with_key = params.get_bool("IncludePublicKey")
    body = [_key_pair_body(p, with_key) for p in selected]
    return {"KeyPairs": {"KeyPair": body}, **paging}


def _key_pair_body(pair: KeyPair, with_key: bool) -> Body:
    body: Body = {
        "KeyPairName": pair.name,
        "KeyPairFingerPrint": pair.fingerprint,
        "CreationTime": format_minutes(pair.created_at),
        "ResourceGroupId": "",
        "Tags": tags_body(pair.tags),
    }
    if with_key:
        body["PublicKey"] = pair.public_key
    return body


def delete_key_pairs(state: EmulatorState, params: Params) -> Body:
    """DeleteKeyPairs: names that do not exist are ignored."""
    region = region_of(params)
    names = params.get_json_list("KeyPairNames")
    if not names:
        raise ApiError(
            400,
            "MissingParameter",
            'The input parameter "KeyPairNames" that is mandatory for '
            "processing this request is not supplied.",
        )
    for name in names:
        state.key_pairs.pop((region.region_id, name), None)
    return {}
