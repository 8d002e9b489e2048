"""Matrix look-up (which escalation level and SLA policy a new ticket gets) and the
versioned configuration behind it: calendars, SLA policy versions, matrix versions."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import func, text, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.db import driver_connection
from kefu_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from kefu_escalation.configuration.calendars import BusinessCalendar
from kefu_escalation.models import Calendar, MatrixEntry, MatrixVersion, SlaPolicy

TIERS = ("standard", "vip")
SEVERITIES = ("low", "normal", "high", "critical")


@dataclass(frozen=True)
class AssignedTarget:
    """A target of an SLA assignment (ResolveSla): its duration and, when it runs from the first
    contact, its due instant. The clocks' own target definition is `kefu_escalation.clocks.model.Target`."""

    name: str
    duration: timedelta
    due_at: datetime | None


@dataclass(frozen=True)
class SlaAssignment:
    level: str
    matrix_version: int
    matrix_tier: str
    policy: SlaPolicy
    targets: list[AssignedTarget]


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
) -> list[AssignedTarget]:
    """Due times in business time of the policy's calendar, counted from the customer's
    first contact. next_update and escalation_ack recur / start later, so they carry no
    absolute due time."""
    first_response = timedelta(seconds=policy.first_response_seconds)
    resolution = timedelta(seconds=policy.resolution_seconds)
    return [
        AssignedTarget("first_response", first_response, calendar.add(first_contact_at, first_response)),
        AssignedTarget("next_update", timedelta(seconds=policy.next_update_seconds), None),
        AssignedTarget("resolution", resolution, calendar.add(first_contact_at, resolution)),
        AssignedTarget("escalation_ack", timedelta(seconds=policy.escalation_ack_seconds), None),
    ]


@lru_cache(maxsize=256)
def _compiled(spec_json: str) -> BusinessCalendar:
    return BusinessCalendar.from_spec(json.loads(spec_json))


def compile_calendar(spec: Any) -> BusinessCalendar:
    """The calendar of a spec, built once per distinct spec (calendars are immutable values)."""
    return _compiled(json.dumps(spec, sort_keys=True))


async def load_calendar(session: AsyncSession, name: str) -> BusinessCalendar:
    """The named calendar, compiled once per distinct spec (edits give a new cache entry)."""
    row = await session.get(Calendar, name)
    if row is None:
        raise _calendar_missing(name)
    return compile_calendar(row.spec)


def _calendar_missing(name: str) -> FailedPrecondition:
    return FailedPrecondition(f"calendar {name!r} named by the SLA policy does not exist", code="calendar_missing")


_POLICY_COLUMNS = tuple(SlaPolicy.model_fields)
# The cell of the latest published matrix, its policy version and the policy's calendar spec,
# in one statement (ResolveSla runs once per ticket created; see docs/benchmarks.md).
_RESOLVE_SQL = text(
    "SELECT e.matrix_version, e.level, c.spec AS calendar_spec, c.name AS calendar_name, "
    + ", ".join(f"p.{name} AS policy_{name}" for name in _POLICY_COLUMNS)
    + " FROM escalation.matrix_entry e"
    " JOIN escalation.sla_policy p ON p.id = e.policy_id AND p.version = e.policy_version"
    " LEFT JOIN escalation.calendar c ON c.name = p.calendar"
    " WHERE e.matrix_version = (SELECT max(version) FROM escalation.matrix_version"
    " WHERE published_at IS NOT NULL) AND e.tier = :tier AND e.severity = :severity"
)


@dataclass(frozen=True)
class PublishedCell:
    """What the latest published matrix says for one (matrix tier, severity): the level, the
    policy version and its calendar's spec (None when the calendar does not exist)."""

    matrix_version: int
    level: str
    policy: SlaPolicy
    calendar_name: str | None
    calendar_spec: Any


async def published_cell(session: AsyncSession, tier: str, severity: str) -> PublishedCell | None:
    found = (
        await (await session.connection()).execute(_RESOLVE_SQL, {"tier": tier, "severity": severity})
    ).first()
    if found is None:
        return None
    return PublishedCell(
        matrix_version=found.matrix_version,
        level=found.level,
        policy=SlaPolicy(**{name: getattr(found, f"policy_{name}") for name in _POLICY_COLUMNS}),
        calendar_name=found.calendar_name,
        calendar_spec=found.calendar_spec,
    )


class CellSource(Protocol):
    """Where `resolve_sla` reads the published cell: the database, or a cache of it
    (`published_sla.PublishedSlaCache`)."""

    async def cell(self, session: AsyncSession, tier: str, severity: str) -> PublishedCell | None: ...


# A publish that changes what `resolve_sla` answers (a matrix version, a calendar's spec) says
# so on this channel at commit, and every replica's cache of published cells drops its entries.
CONFIG_CHANNEL = "kefu_escalation_config"


async def announce_config_change(session: AsyncSession) -> None:
    await (await driver_connection(session)).execute("SELECT pg_notify($1, '')", CONFIG_CHANNEL)


async def resolve_sla(
    session: AsyncSession,
    *,
    tier: str,
    sensitive: bool,
    severity: str,
    channel: str | None,
    first_contact_at: datetime,
    cells: CellSource | None = None,
) -> SlaAssignment:
    if severity not in SEVERITIES:
        raise InvalidArgument(f"unknown severity {severity!r}", code="invalid_severity")
    row_tier = matrix_tier(tier=tier, sensitive=sensitive, channel=channel)
    found = await (cells.cell(session, row_tier, severity) if cells else published_cell(session, row_tier, severity))
    if found is None:
        raise FailedPrecondition(
            f"the published matrix has no cell for tier={row_tier} severity={severity}",
            code="matrix_cell_missing",
        )
    if found.calendar_name is None:
        raise _calendar_missing(found.policy.calendar)
    return SlaAssignment(
        level=found.level,
        matrix_version=found.matrix_version,
        matrix_tier=row_tier,
        policy=found.policy,
        targets=targets_for(found.policy, first_contact_at, compile_calendar(found.calendar_spec)),
    )


# ------------------------------------------------------------------------------------------
# Versioned configuration (issue #4): calendars, SLA policy versions, matrix versions.
#
# Policy and matrix versions are append-only: publishing inserts a new row (or rows) and
# never touches an earlier one, so a ticket's SLA snapshot stays explainable. A publish
# carries a request id stored on the version row (unique) with a digest of its content: the
# same id with the same content returns that version, with other content it is refused.
# Publishing is serialised per policy id / for the matrix by a transaction-scoped advisory
# lock, so concurrent publishers get consecutive versions instead of a key violation.
# ------------------------------------------------------------------------------------------

MATRIX_TIERS = ("standard", "vip", "sensitive")
LEVELS = ("L0", "L1", "L2", "L3")
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_TARGET_SECONDS = 366 * 24 * 3600
MAX_NOTE = 500
_CALENDAR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_POLICY_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_TARGETS = (
    "first_response_seconds",
    "next_update_seconds",
    "resolution_seconds",
    "escalation_ack_seconds",
)


def check_request_id(request_id: str) -> None:
    if not request_id.strip() or len(request_id) > 128:
        raise InvalidArgument("request_id is required (1..128 characters)", code="invalid_request_id")


def _digest(content: object) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _reused(request_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"request_id {request_id!r} was already used to publish different content",
        code="idempotency_key_reused",
    )


async def _lock(session: AsyncSession, key: str) -> None:
    conn = await session.connection()
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


# --- calendars ---------------------------------------------------------------------------


def _hhmm(t: time, *, end: bool = False) -> str:
    if end and t == time(0):
        return "24:00"
    return f"{t.hour:02d}:{t.minute:02d}" + (f":{t.second:02d}" if t.second else "")


def _intervals(pairs: Sequence[tuple[time, time]]) -> list[str]:
    return [f"{_hhmm(lo)}-{_hhmm(hi, end=True)}" for lo, hi in pairs]


def render_spec(calendar: BusinessCalendar) -> dict[str, Any]:
    """The canonical spec of a compiled calendar: HH:MM times, days without hours left out,
    dates sorted. Two specs meaning the same calendar render the same."""
    return {
        "name": calendar.name,
        "tz": calendar.tz,
        "weekly": {
            WEEKDAY_KEYS[wd]: _intervals(pairs) for wd, pairs in calendar.weekly.items() if pairs
        },
        "holidays": sorted(d.isoformat() for d in calendar.holidays),
        "extra_workdays": {
            d.isoformat(): _intervals(pairs) for d, pairs in sorted(calendar.extra_workdays.items())
        },
    }


def stored_spec(row: Calendar) -> dict[str, Any]:
    """A stored calendar's spec in canonical form (the seeded rows were written by hand)."""
    return render_spec(compile_calendar(row.spec))


def calendar_spec(
    *,
    name: str,
    tz: str,
    weekly: Mapping[str, Sequence[str]],
    holidays: Sequence[str],
    extra_workdays: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """Validate a calendar with the code that computes due times; its canonical spec."""
    if not _CALENDAR_NAME.match(name):
        raise InvalidArgument(
            "calendar name must be 1..64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)",
            code="invalid_calendar_name",
        )
    label = f"calendar {name!r}"
    unknown = sorted(k for k in weekly if k not in WEEKDAY_KEYS)
    if unknown:
        raise InvalidArgument(
            f"{label}: weekly keys must be {', '.join(WEEKDAY_KEYS)}; got {unknown}",
            code="invalid_calendar",
        )
    if len(holidays) > 5000 or len(extra_workdays) > 5000:
        raise InvalidArgument(f"{label}: at most 5000 holidays and extra workdays", code="invalid_calendar")
    if any(len(v) > 48 for v in [*weekly.values(), *extra_workdays.values()]):
        raise InvalidArgument(f"{label}: at most 48 intervals a day", code="invalid_calendar")
    spec = {
        "name": name,
        "tz": tz,
        "weekly": {k: list(v) for k, v in weekly.items()},
        "holidays": list(holidays),
        "extra_workdays": {k: list(v) for k, v in extra_workdays.items()},
    }
    try:
        compiled = BusinessCalendar.from_spec(spec)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(str(exc), code="invalid_calendar") from None
    return render_spec(compiled)


async def list_calendars(session: AsyncSession) -> list[Calendar]:
    return list((await session.exec(select(Calendar).order_by(col(Calendar.name)))).all())


async def get_calendar(session: AsyncSession, name: str) -> Calendar:
    row = await session.get(Calendar, name)
    if row is None:
        raise NotFound(f"calendar {name!r} not found", code="calendar_not_found")
    return row


async def upsert_calendar(session: AsyncSession, spec: dict[str, Any], *, now: datetime) -> Calendar:
    """Create or replace a calendar from a spec checked by `calendar_spec`. The same spec
    again changes nothing (not even updated_at)."""
    name = spec["name"]
    await _lock(session, f"escalation.calendar/{name}")
    row = await session.get(Calendar, name)
    if row is None:
        row = Calendar(name=name, spec=spec, updated_at=now)
        session.add(row)
        await announce_config_change(session)
    elif stored_spec(row) != spec:
        row.spec = spec
        row.updated_at = now
        session.add(row)
        await announce_config_change(session)
    await session.flush()
    return row


# --- SLA policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyDraft:
    id: str
    name: str
    calendar: str
    first_response_seconds: int
    next_update_seconds: int
    resolution_seconds: int
    escalation_ack_seconds: int
    warning_percent: int
    warning_before_seconds: int | None = None

    def validate(self) -> None:
        if not _POLICY_ID.match(self.id):
            raise InvalidArgument(
                "policy id must be 1..64 of a-z 0-9 . _ - (starting with a letter or digit)",
                code="invalid_policy_id",
            )
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidArgument("policy name is required (1..200 characters)", code="invalid_policy_name")
        if not _CALENDAR_NAME.match(self.calendar):
            raise InvalidArgument("calendar is required (a calendar name)", code="invalid_calendar_name")
        for target in _TARGETS:
            seconds = getattr(self, target)
            if not 0 < seconds <= MAX_TARGET_SECONDS:
                raise InvalidArgument(
                    f"{target} must be 1..{MAX_TARGET_SECONDS} seconds, got {seconds}",
                    code="invalid_target",
                )
        if not 1 <= self.warning_percent <= 99:
            raise InvalidArgument(
                f"warning_percent must be 1..99, got {self.warning_percent}",
                code="invalid_warning_percent",
            )
        before = self.warning_before_seconds
        if before is not None and not 0 < before <= MAX_TARGET_SECONDS:
            raise InvalidArgument(
                f"warning_before_seconds must be 1..{MAX_TARGET_SECONDS} (or unset), got {before}",
                code="invalid_warning_before",
            )

    def digest(self) -> str:
        fields = dataclasses.asdict(self)
        if fields["warning_before_seconds"] is None:  # digests of drafts from before the field
            del fields["warning_before_seconds"]
        return _digest(fields)


async def list_policies(
    session: AsyncSession, *, all_versions: bool = False, policy_id: str = ""
) -> list[SlaPolicy]:
    """By id then version: every version, or only the latest of each policy."""
    stmt = select(SlaPolicy)
    if policy_id:
        stmt = stmt.where(col(SlaPolicy.id) == policy_id)
    if not all_versions:
        latest = aliased(SlaPolicy)
        newer = select(latest.version).where(
            (col(latest.id) == col(SlaPolicy.id)) & (col(latest.version) > col(SlaPolicy.version))
        )
        stmt = stmt.where(~newer.exists())
    stmt = stmt.order_by(col(SlaPolicy.id), col(SlaPolicy.version))
    return list((await session.exec(stmt)).all())


async def find_published_policy(
    session: AsyncSession, *, request_id: str, draft: PolicyDraft
) -> SlaPolicy | None:
    """The version an earlier publish with this request id created (None if there was none)."""
    stmt = select(SlaPolicy).where(col(SlaPolicy.request_id) == request_id)
    found = (await session.exec(stmt)).first()
    if found is not None and found.request_hash != draft.digest():
        raise _reused(request_id)
    return found


async def publish_policy(
    session: AsyncSession, draft: PolicyDraft, *, request_id: str, now: datetime
) -> SlaPolicy:
    """Version n+1 of the policy (version 1 of a new id); earlier versions stay as they are."""
    check_request_id(request_id)
    draft.validate()
    await _lock(session, f"escalation.policy/{draft.id}")
    stored = await find_published_policy(session, request_id=request_id, draft=draft)
    if stored is not None:
        return stored
    if await session.get(Calendar, draft.calendar) is None:
        raise FailedPrecondition(
            f"calendar {draft.calendar!r} does not exist; create it first", code="calendar_missing"
        )
    current = (
        await session.exec(select(func.max(SlaPolicy.version)).where(col(SlaPolicy.id) == draft.id))
    ).one()
    policy = SlaPolicy(
        **dataclasses.asdict(draft),
        version=(current or 0) + 1,
        created_at=now,
        request_id=request_id,
        request_hash=draft.digest(),
    )
    session.add(policy)
    await session.flush()
    return policy


# --- the matrix --------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Cell:
    tier: str
    severity: str
    level: str
    policy_id: str
    policy_version: int


@dataclass(frozen=True)
class MatrixView:
    version: MatrixVersion
    cells: list[MatrixEntry]


def _cell_order(tier: str, severity: str) -> tuple[int, int]:
    return MATRIX_TIERS.index(tier), SEVERITIES.index(severity)


def validate_matrix(cells: Sequence[Cell], note: str) -> list[Cell]:
    """Every tier x severity exactly once, known levels; the cells in canonical order."""
    if len(note) > MAX_NOTE:
        raise InvalidArgument(f"note must be at most {MAX_NOTE} characters", code="invalid_note")
    for cell in cells:
        if cell.tier not in MATRIX_TIERS:
            raise InvalidArgument(
                f"unknown matrix tier {cell.tier!r} (one of {', '.join(MATRIX_TIERS)})",
                code="invalid_tier",
            )
        if cell.severity not in SEVERITIES:
            raise InvalidArgument(f"unknown severity {cell.severity!r}", code="invalid_severity")
        if cell.level not in LEVELS:
            raise InvalidArgument(
                f"cell {cell.tier}/{cell.severity}: level must be one of {', '.join(LEVELS)}",
                code="invalid_level",
            )
        if cell.policy_version < 1:
            raise InvalidArgument(
                f"cell {cell.tier}/{cell.severity}: policy_version must be 1 or more",
                code="invalid_policy_version",
            )
    seen = Counter((c.tier, c.severity) for c in cells)
    missing = [f"{t}/{s}" for t in MATRIX_TIERS for s in SEVERITIES if (t, s) not in seen]
    twice = [f"{t}/{s}" for (t, s), n in seen.items() if n > 1]
    if missing or twice:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if twice:
            problems.append(f"given more than once {', '.join(sorted(twice))}")
        raise InvalidArgument(
            "a matrix version needs each tier (standard, vip, sensitive) x severity (low, normal, "
            f"high, critical) exactly once: {'; '.join(problems)}",
            code="matrix_incomplete",
        )
    return sorted(cells, key=lambda c: _cell_order(c.tier, c.severity))


def _matrix_digest(cells: Sequence[Cell], note: str) -> str:
    return _digest({"note": note, "cells": [dataclasses.astuple(c) for c in cells]})


async def _matrix_view(session: AsyncSession, version: MatrixVersion) -> MatrixView:
    entries = (
        await session.exec(select(MatrixEntry).where(col(MatrixEntry.matrix_version) == version.version))
    ).all()
    ordered = sorted(
        entries,
        key=lambda e: (
            _cell_order(e.tier, e.severity)
            if e.tier in MATRIX_TIERS and e.severity in SEVERITIES
            else (len(MATRIX_TIERS), 0)
        ),
    )
    return MatrixView(version=version, cells=ordered)


async def get_matrix(session: AsyncSession, version: int = 0) -> MatrixView:
    """A matrix version; 0 means the latest published one (the one ResolveSla reads)."""
    if version:
        row = await session.get(MatrixVersion, version)
    else:
        stmt = (
            select(MatrixVersion)
            .where(col(MatrixVersion.published_at).is_not(None))
            .order_by(col(MatrixVersion.version).desc())
            .limit(1)
        )
        row = (await session.exec(stmt)).first()
    if row is None:
        what = f"matrix version {version}" if version else "a published matrix"
        raise NotFound(f"{what} not found", code="matrix_version_not_found")
    return await _matrix_view(session, row)


async def find_published_matrix(
    session: AsyncSession, *, request_id: str, cells: Sequence[Cell], note: str
) -> MatrixView | None:
    stmt = select(MatrixVersion).where(col(MatrixVersion.request_id) == request_id)
    found = (await session.exec(stmt)).first()
    if found is None:
        return None
    if found.request_hash != _matrix_digest(cells, note):
        raise _reused(request_id)
    return await _matrix_view(session, found)


async def publish_matrix(
    session: AsyncSession, cells: Sequence[Cell], *, note: str, request_id: str, now: datetime
) -> MatrixView:
    """A complete new matrix version, published now: new tickets get it from this commit on.
    Earlier versions (and tickets that read them) are untouched."""
    check_request_id(request_id)
    ordered = validate_matrix(cells, note)
    await _lock(session, "escalation.matrix")
    stored = await find_published_matrix(session, request_id=request_id, cells=ordered, note=note)
    if stored is not None:
        return stored
    wanted = {(c.policy_id, c.policy_version) for c in ordered}
    pairs = tuple_(col(SlaPolicy.id), col(SlaPolicy.version))
    existing = set(
        (await session.exec(select(SlaPolicy.id, SlaPolicy.version).where(pairs.in_(list(wanted))))).all()
    )
    missing = sorted(wanted - {(pid, v) for pid, v in existing})
    if missing:
        names = ", ".join(f"{pid} v{v}" for pid, v in missing)
        raise FailedPrecondition(
            f"the matrix names policy versions that do not exist: {names}", code="policy_missing"
        )
    current = (await session.exec(select(func.max(MatrixVersion.version)))).one()
    version = MatrixVersion(
        version=(current or 0) + 1,
        note=note,
        published_at=now,
        request_id=request_id,
        request_hash=_matrix_digest(ordered, note),
    )
    session.add(version)
    await session.flush()
    entries = [
        MatrixEntry(
            matrix_version=version.version,
            tier=c.tier,
            severity=c.severity,
            level=c.level,
            policy_id=c.policy_id,
            policy_version=c.policy_version,
        )
        for c in ordered
    ]
    session.add_all(entries)
    await session.flush()
    await announce_config_change(session)
    return MatrixView(version=version, cells=entries)
