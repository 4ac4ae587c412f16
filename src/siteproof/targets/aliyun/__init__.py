"""``--target aliyun``: a pay-as-you-go ARM instance on Alibaba Cloud ECS.

This package is the only part of siteproof that imports the Alibaba Cloud
SDK, and it imports it only when a cloud target is used.
"""

from __future__ import annotations

from siteproof.targets.aliyun.api import RetryPolicy
from siteproof.targets.aliyun.facts import AliyunFacts, site_axes
from siteproof.targets.aliyun.release import ReleasePolicy
from siteproof.targets.aliyun.target import AliyunOptions, AliyunTarget, new_run_id
from siteproof.targets.aliyun.waits import Deadlines

__all__ = [
    "AliyunFacts",
    "AliyunOptions",
    "AliyunTarget",
    "Deadlines",
    "ReleasePolicy",
    "RetryPolicy",
    "new_run_id",
    "site_axes",
]
