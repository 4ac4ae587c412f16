"""An Alibaba Cloud ECS (2014-05-26) API emulator for siteproof's tests.

A real HTTP server on 127.0.0.1 that the official SDK talks to through its
endpoint setting. It checks signatures, answers with the documented JSON
shapes and error codes, runs instances through Pending -> Starting ->
Running, and can hand each Running instance to a host factory that builds a
real test host. It is a test instrument and not part of the siteproof wheel.
"""

from __future__ import annotations

from ecs_emulator.clock import EmulatorClock
from ecs_emulator.errors import ApiError
from ecs_emulator.faults import Faults
from ecs_emulator.hosts import HostFactory, HostSpec, UnansweredAddressFactory
from ecs_emulator.resources import CallRecord, LiveResources
from ecs_emulator.server import DEFAULT_ACCESS_KEYS, EmulatorHandle, start_emulator
from ecs_emulator.state import Delays, EmulatorState
from ecs_emulator.userdata import extract_host_key, render_host_key_script

__all__ = [
    "DEFAULT_ACCESS_KEYS",
    "ApiError",
    "CallRecord",
    "Delays",
    "EmulatorClock",
    "EmulatorHandle",
    "EmulatorState",
    "Faults",
    "HostFactory",
    "HostSpec",
    "LiveResources",
    "UnansweredAddressFactory",
    "extract_host_key",
    "render_host_key_script",
    "start_emulator",
]
