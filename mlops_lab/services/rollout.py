"""Staged rollouts: canary weights and step plans as users type them, durations and moments,
and the checks that stop a rollout or roll a drifting canary back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_lab.config import duration_seconds
from mlops_lab.errors import LabError, UsageError

if TYPE_CHECKING:
    from mlops_lab.services.drift import CanaryDrift
    from mlops_lab.services.endpoint_state import EndpointStatus


class RolloutStopped(LabError):
    """A staged rollout failed a check and was rolled back."""

    http_status = 409


def parse_weight(value: Any) -> int:
    if isinstance(value, bool):
        raise UsageError(f"canary weight {value!r} must be a whole percentage from 0 to 100")
    try:
        number = float(str(value).strip().removesuffix("%"))
    except ValueError:
        number = float("nan")
    if not number == number or number != int(number) or not 0 <= number <= 100:
        raise UsageError(f"canary weight {value!r} must be a whole percentage from 0 to 100")
    return int(number)


def parse_steps(value: Sequence[int] | str | None) -> list[int] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        plan = [parse_weight(item) for item in items if str(item).strip()]
    except UsageError:
        plan = []
    if not plan or any(b <= a for a, b in itertools.pairwise(plan)) or plan[0] == 0:
        raise UsageError(
            f"steps {value!r} must be rising canary percentages from 1 to 100, e.g. 10,50,100"
        )
    return plan


def parse_duration(value: str | float, what: str = "duration") -> float:
    """Seconds in ``"60s"``, ``"15m"``, ``"1h"``, ``"2d"`` (or a number of seconds)."""
    seconds = duration_seconds(value)
    if seconds is None:
        raise UsageError(f"{what} '{value}' is not a duration; use e.g. 30s, 15m, 1h or 2d")
    if seconds <= 0:
        raise UsageError(f"{what} '{value}' must be longer than zero")
    return seconds


def parse_moment(value: datetime | str | None, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value, what))
    except UsageError:
        pass
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise UsageError(
            f"{what} '{value}' is neither a duration (1h, 15m, 2d) nor an ISO time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def failed_check(
    status: EndpointStatus,
    spec: dict[str, str],
    max_error_rate: float | None,
    max_p99_ms: float | None,
) -> str:
    canary = next(
        (s for s in status.stats if s.variant == "canary" and s.version == spec["version"]), None
    )
    if canary is None or canary.requests == 0:
        return ""
    if max_error_rate is not None and canary.error_rate > max_error_rate:
        return f"canary error rate {canary.error_rate:.3f} > {max_error_rate}"
    if max_p99_ms is not None and canary.p99_ms > max_p99_ms:
        return f"canary p99 {canary.p99_ms:.1f} ms > {max_p99_ms} ms"
    return ""


def drift_reason(drift: CanaryDrift, limit: float) -> str:
    """Why ``[serving] rollback_on_drift = limit`` rolls this canary back, or "" (also when
    the policy is off: 0)."""
    if not 0 <= limit <= 1:
        raise UsageError(
            f"[serving] rollback_on_drift = {limit} must be a share of columns between 0 and 1 "
            "(e.g. 0.2), or 0 to switch it off"
        )
    if not limit or drift.share < limit:
        return ""
    return (
        f"canary drift {drift.share:.0%} of input columns >= rollback_on_drift {limit:g} "
        f"over the last {drift.window}: {drift.summary()}"
    )
