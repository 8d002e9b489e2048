"""Conversions between protobuf well-known types and Python values."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from kefu.common.v1 import types_pb2


def to_timestamp(dt: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
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
