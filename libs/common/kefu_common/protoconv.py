"""Conversions between protobuf well-known types and Python values."""

from __future__ import annotations

from datetime import UTC, date, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from kefu.common.v1 import types_pb2
from kefu_common import periods
from kefu_common.errors import InvalidArgument


def to_timestamp(dt: datetime) -> Timestamp:
    """`dt` as a Timestamp; an instant before 0001-01-01T00:00:00Z (year 1 with an eastern
    offset) → InvalidArgument `invalid_timestamp`, never an OverflowError (a 500)."""
    ts = Timestamp()
    try:
        ts.FromDatetime(dt.astimezone(UTC))
    except (OverflowError, ValueError) as exc:
        raise InvalidArgument(f"{dt.isoformat()} is outside the instants a timestamp holds",
                              code="invalid_timestamp") from exc
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _prefix(enum_type: object) -> str:
    name: str = enum_type.DESCRIPTOR.name  # type: ignore[attr-defined]
    snake = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name))
    return snake.upper() + "_"


def enum_to_str(enum_type: object, value: int) -> str | None:
    """`Severity.SEVERITY_HIGH` -> "high"; the UNSPECIFIED member (or an unknown number) -> None."""
    try:
        name: str = enum_type.Name(value)  # type: ignore[attr-defined]
    except ValueError:
        return None
    short = name.removeprefix(_prefix(enum_type)).lower()
    return None if short == "unspecified" else short


def str_to_enum(enum_type: object, value: str) -> int:
    """"high" -> `Severity.SEVERITY_HIGH`; raises ValueError for an unknown name."""
    return enum_type.Value(_prefix(enum_type) + value.upper())  # type: ignore[attr-defined,no-any-return]


def enum_choices(enum_type: object) -> list[str]:
    """Every named value of a proto enum except UNSPECIFIED, as lower-case strings."""
    names = enum_type.keys()  # type: ignore[attr-defined]
    prefix = _prefix(enum_type)
    return [n.removeprefix(prefix).lower() for n in names if not n.endswith("_UNSPECIFIED")]


def level_to_str(value: int) -> str:
    """`EscalationLevel.ESCALATION_LEVEL_L2` -> "L2" (the domain's spelling); "" if unset."""
    return (enum_to_str(types_pb2.EscalationLevel, value) or "").upper()


def report_range(plan: periods.Plan) -> types_pb2.ReportRange:
    """The wire form of a report's plan (kefu_common.periods)."""
    return types_pb2.ReportRange(
        start=plan.start.isoformat(),
        end=plan.end.isoformat(),
        tz=plan.tz_name,
        bucket=plan.unit.value,
        compare_previous=plan.compare is periods.Compare.PREVIOUS,
    )


def plan_from_range(msg: types_pb2.ReportRange) -> periods.Plan:
    """The plan of a `ReportRange`; bad dates, zone or bucket → InvalidArgument."""
    try:
        start, end = date.fromisoformat(msg.start), date.fromisoformat(msg.end)
    except ValueError as exc:
        raise InvalidArgument("start and end are dates YYYY-MM-DD", code="invalid_range") from exc
    return periods.plan(
        start,
        end,
        tz=msg.tz or periods.DEFAULT_TZ,
        unit=msg.bucket or periods.BucketUnit.NONE,
        compare=periods.Compare.PREVIOUS if msg.compare_previous else periods.Compare.NONE,
    )
