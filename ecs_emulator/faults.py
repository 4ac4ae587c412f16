"""Fault injection: errors and misbehaviour that a test switches on.

Every method is safe to call from the test thread while the server runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ecs_emulator.errors import ApiError
from ecs_emulator.hosts import USER_DATA_DONE, USER_DATA_FAILED, USER_DATA_HANGS

ALL_ACTIONS = "*"
THROTTLING_USER_MESSAGE = "Request was denied due to user flow control."
UNAVAILABLE_MESSAGE = "The request has failed due to a temporary failure of the server."
INTERNAL_ERROR_MESSAGE = "The request processing has failed due to some unknown error."
NO_STOCK_MESSAGE = (
    "The requested resource is sold out in the specified zone; try other types "
    "of resources or other regions and zones."
)
NOT_ON_SALE_MESSAGE = (
    "The resource in the specified zone is no longer available for sale. "
    "Please try other regions and zones."
)
BALANCE_MESSAGE = "Your account does not have enough balance."
QUOTA_MESSAGE = "No additional quota is available for the specified ECS instance type."
DELETE_ACTIONS = frozenset({"DeleteInstance", "DeleteInstances"})


@dataclass
class _CallFault:
    """An error returned by the next ``remaining`` calls of some actions."""

    actions: frozenset[str] | None  # None: every action
    error: ApiError
    remaining: int | None  # None: until cleared

    def matches(self, action: str) -> bool:
        return self.actions is None or action in self.actions


@dataclass
class _PlacementFault:
    """RunInstances refused in some zones and/or for some instance types."""

    zones: frozenset[str] | None
    instance_types: frozenset[str] | None
    error: ApiError
    hidden: bool
    sold_out_status: str

    def matches(self, zone_id: str, instance_type: str | None) -> bool:
        zone_ok = self.zones is None or zone_id in self.zones
        type_ok = (
            self.instance_types is None
            or instance_type is None
            or instance_type in self.instance_types
        )
        return zone_ok and type_ok


@dataclass
class _Counters:
    never_running: int = 0
    ssh_never_opens: int = 0
    user_data_outcomes: list[str] = field(default_factory=list)
    run_errors: list[_CallFault] = field(default_factory=list)


class Faults:
    """Switches for the faults a test wants; see ``clear`` to reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._call_faults: list[_CallFault] = []
        self._placement: list[_PlacementFault] = []
        self._counters = _Counters()

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._call_faults.clear()
            self._placement.clear()
            self._counters = _Counters()

    # Errors on any action

    def fail(
        self,
        action: str,
        code: str,
        message: str,
        status: int = 400,
        *,
        times: int | None = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``action`` fail (None: always).

        Args:
            action: Action name, or ``"*"`` for every action.
            code: Error code to return.
            message: Error message to return.
            status: HTTP status.
            times: How many calls fail; None until ``clear``.
            headers: Extra reply headers.
        """
        actions = None if action == ALL_ACTIONS else frozenset({action})
        self._add_call_fault(actions, ApiError(status, code, message, headers), times)

    def throttle(
        self,
        action: str = ALL_ACTIONS,
        times: int = 3,
        *,
        code: str = "Throttling.User",
        status: int = 400,
        retry_after_ms: int | None = None,
    ) -> None:
        """Throttle the next ``times`` calls (a burst of flow control).

        With ``retry_after_ms`` the reply carries ``x-acs-retry-after`` and the
        SDK raises its ``ThrottlingException``.
        """
        headers = {"x-acs-retry-after": str(retry_after_ms)} if retry_after_ms else {}
        message = THROTTLING_USER_MESSAGE
        if code == "Throttling":
            message = "Request was denied due to request throttling."
        self.fail(action, code, message, status, times=times, headers=headers)

    def unavailable(self, action: str = ALL_ACTIONS, times: int = 1) -> None:
        """Answer 503 ServiceUnavailable to the next ``times`` calls."""
        self.fail(action, "ServiceUnavailable", UNAVAILABLE_MESSAGE, 503, times=times)

    def internal_error(self, action: str = ALL_ACTIONS, times: int = 1) -> None:
        """Answer 500 InternalError to the next ``times`` calls."""
        self.fail(action, "InternalError", INTERNAL_ERROR_MESSAGE, 500, times=times)

    def delete_fails(
        self,
        times: int = 2,
        *,
        code: str = "IncorrectInstanceStatus",
        status: int = 403,
        message: str = "The current status of the resource does not support "
        "this operation.",
    ) -> None:
        """Make DeleteInstance/DeleteInstances fail the first ``times`` calls."""
        self._add_call_fault(DELETE_ACTIONS, ApiError(status, code, message), times)

    def take_call_fault(self, action: str) -> ApiError | None:
        """Return (and count) the error this call must get, if any."""
        with self._lock:
            return _take(self._call_faults, action)

    # RunInstances placement and account errors

    def no_stock(
        self,
        zones: Iterable[str] | None = None,
        instance_types: Iterable[str] | None = None,
        *,
        hidden: bool = False,
    ) -> None:
        """Refuse RunInstances with 403 OperationDenied.NoStock.

        Args:
            zones: Affected zones (None: all).
            instance_types: Affected types (None: all).
            hidden: When True, DescribeAvailableResource still says WithStock
                (the race a real cloud has); otherwise it says SoldOut.
        """
        error = ApiError(403, "OperationDenied.NoStock", NO_STOCK_MESSAGE)
        self._add_placement(zones, instance_types, error, hidden, "WithoutStock")

    def zone_not_on_sale(self, zones: Iterable[str], *, hidden: bool = False) -> None:
        """Refuse RunInstances in ``zones`` with 403 Zone.NotOnSale."""
        error = ApiError(403, "Zone.NotOnSale", NOT_ON_SALE_MESSAGE)
        self._add_placement(zones, None, error, hidden, "ClosedWithoutStock")

    def not_enough_balance(self, times: int | None = None) -> None:
        """Refuse RunInstances with 403 InvalidAccountStatus.NotEnoughBalance."""
        error = ApiError(403, "InvalidAccountStatus.NotEnoughBalance", BALANCE_MESSAGE)
        self._add_run_error(error, times)

    def quota_exceeded(
        self,
        code: str = "QuotaExceed.ElasticQuota",
        status: int = 403,
        message: str = QUOTA_MESSAGE,
        times: int | None = None,
    ) -> None:
        """Refuse RunInstances with a quota error."""
        self._add_run_error(ApiError(status, code, message), times)

    def placement_error(self, zone_id: str, instance_type: str) -> ApiError | None:
        """Return the error RunInstances gets for this zone and type, if any."""
        with self._lock:
            rule = next(
                (p for p in self._placement if p.matches(zone_id, instance_type)), None
            )
            return rule.error if rule else None

    def stock_status(self, zone_id: str, instance_type: str | None) -> str | None:
        """Return the StatusCategory to report instead of WithStock, if any."""
        with self._lock:
            for rule in self._placement:
                if not rule.hidden and rule.matches(zone_id, instance_type):
                    return rule.sold_out_status
        return None

    def take_run_error(self) -> ApiError | None:
        """Return (and count) an account error for RunInstances, if any."""
        with self._lock:
            return _take(self._counters.run_errors, "RunInstances")

    # Instance behaviour

    def never_running(self, times: int = 1) -> None:
        """Make the next ``times`` instances stay Starting forever."""
        with self._lock:
            self._counters.never_running += times

    def ssh_never_opens(self, times: int = 1) -> None:
        """Make the next ``times`` instances run without an SSH server."""
        with self._lock:
            self._counters.ssh_never_opens += times

    def user_data_fails(self, times: int = 1) -> None:
        """Make the next ``times`` instances' user data end in failure.

        A test-host factory then writes ``user-data.failed`` instead of
        ``user-data.done`` (see ``ecs_emulator.userdata``).
        """
        with self._lock:
            self._counters.user_data_outcomes += [USER_DATA_FAILED] * times

    def user_data_hangs(self, times: int = 1) -> None:
        """Make the next ``times`` instances' user data never finish."""
        with self._lock:
            self._counters.user_data_outcomes += [USER_DATA_HANGS] * times

    def take_user_data_outcome(self) -> str:
        """Return how a new instance's user data ends (``done`` normally)."""
        with self._lock:
            outcomes = self._counters.user_data_outcomes
            return outcomes.pop(0) if outcomes else USER_DATA_DONE

    def take_never_running(self) -> bool:
        """Return True (once per count) if a new instance must never run."""
        with self._lock:
            if self._counters.never_running <= 0:
                return False
            self._counters.never_running -= 1
            return True

    def take_ssh_never_opens(self) -> bool:
        """Return True (once per count) if a new instance must get no sshd."""
        with self._lock:
            if self._counters.ssh_never_opens <= 0:
                return False
            self._counters.ssh_never_opens -= 1
            return True

    def _add_call_fault(
        self, actions: frozenset[str] | None, error: ApiError, times: int | None
    ) -> None:
        with self._lock:
            self._call_faults.append(_CallFault(actions, error, times))

    def _add_run_error(self, error: ApiError, times: int | None) -> None:
        with self._lock:
            self._counters.run_errors.append(
                _CallFault(frozenset({"RunInstances"}), error, times)
            )

    def _add_placement(
        self,
        zones: Iterable[str] | None,
        instance_types: Iterable[str] | None,
        error: ApiError,
        hidden: bool,
        status: str,
    ) -> None:
        rule = _PlacementFault(
            None if zones is None else frozenset(zones),
            None if instance_types is None else frozenset(instance_types),
            error,
            hidden,
            status,
        )
        with self._lock:
            self._placement.append(rule)


def _take(faults: list[_CallFault], action: str) -> ApiError | None:
    """Consume one use of the first fault matching ``action``."""
    for fault in faults:
        if not fault.matches(action):
            continue
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.remove(fault)
        return fault.error
    return None
