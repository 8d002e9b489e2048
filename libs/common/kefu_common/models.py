"""Column helpers shared by every service's SQLModel tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import DateTime
from sqlmodel import Field


def timestamp_field(**kwargs: Any) -> Any:
    """A timezone-aware `timestamptz` column."""
    return Field(sa_type=DateTime(timezone=True), **kwargs)  # type: ignore[call-overload]
