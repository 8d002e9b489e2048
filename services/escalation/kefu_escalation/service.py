"""Matrix look-up: which escalation level and SLA policy a new ticket gets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import FailedPrecondition, InvalidArgument
from kefu_escalation.calendar import BusinessCalendar
from kefu_escalation.models import Calendar, MatrixEntry, MatrixVersion, SlaPolicy

TIERS = ("standard", "vip")
SEVERITIES = ("low", "normal", "high", "critical")


@dataclass(frozen=True)
class Target:
    name: str
    duration: timedelta
    due_at: datetime | None


@dataclass(frozen=True)
class SlaAssignment:
    level: str
    matrix_version: int
    matrix_tier: str
    policy: SlaPolicy
    targets: list[Target]


def matrix_tier(*, tier: str, sensitive: bool, channel: str | None) -> str:
    """The row of the matrix a customer falls in.

    High-risk customers (the `sensitive` flag) and complaints forwarded by a regulator
    (12315/12345) are read as the `sensitive` tier, whatever their commercial tier.
    """
    if tier not in TIERS:
        raise InvalidArgument(f"unknown customer tier {tier!r}", code="invalid_tier")
    if sensitive or channel == "regulator":
        return "sensitive"
    return tier


def targets_for(
    policy: SlaPolicy, first_contact_at: datetime, calendar: BusinessCalendar
) -> list[Target]:
    """Due times in business time of the policy's calendar, counted from the customer's
    first contact. next_update and escalation_ack recur / start later, so they carry no
    absolute due time."""
    first_response = timedelta(seconds=policy.first_response_seconds)
    resolution = timedelta(seconds=policy.resolution_seconds)
    return [
        Target("first_response", first_response, calendar.add(first_contact_at, first_response)),
        Target("next_update", timedelta(seconds=policy.next_update_seconds), None),
        Target("resolution", resolution, calendar.add(first_contact_at, resolution)),
        Target("escalation_ack", timedelta(seconds=policy.escalation_ack_seconds), None),
    ]


@lru_cache(maxsize=64)
def _compiled(spec_json: str) -> BusinessCalendar:
    return BusinessCalendar.from_spec(json.loads(spec_json))


async def load_calendar(session: AsyncSession, name: str) -> BusinessCalendar:
    """The named calendar, compiled once per distinct spec (edits give a new cache entry)."""
    row = await session.get(Calendar, name)
    if row is None:
        raise FailedPrecondition(
            f"calendar {name!r} named by the SLA policy does not exist", code="calendar_missing"
        )
    return _compiled(json.dumps(row.spec, sort_keys=True))


async def resolve_sla(
    session: AsyncSession,
    *,
    tier: str,
    sensitive: bool,
    severity: str,
    channel: str | None,
    first_contact_at: datetime,
) -> SlaAssignment:
    if severity not in SEVERITIES:
        raise InvalidArgument(f"unknown severity {severity!r}", code="invalid_severity")
    row_tier = matrix_tier(tier=tier, sensitive=sensitive, channel=channel)
    latest = (
        select(MatrixVersion.version)
        .where(col(MatrixVersion.published_at).is_not(None))
        .order_by(col(MatrixVersion.version).desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(MatrixEntry, SlaPolicy)
        .join(
            SlaPolicy,
            (col(SlaPolicy.id) == col(MatrixEntry.policy_id))
            & (col(SlaPolicy.version) == col(MatrixEntry.policy_version)),
        )
        .where(
            col(MatrixEntry.matrix_version) == latest,
            col(MatrixEntry.tier) == row_tier,
            col(MatrixEntry.severity) == severity,
        )
    )
    found = (await session.exec(stmt)).first()
    if found is None:
        raise FailedPrecondition(
            f"the published matrix has no cell for tier={row_tier} severity={severity}",
            code="matrix_cell_missing",
        )
    entry, policy = found
    return SlaAssignment(
        level=entry.level,
        matrix_version=entry.matrix_version,
        matrix_tier=row_tier,
        policy=policy,
        targets=targets_for(policy, first_contact_at, await load_calendar(session, policy.calendar)),
    )
