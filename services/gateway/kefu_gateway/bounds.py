"""Period bounds of a list's filter: `start` / `end` as local dates of `tz` (local midnight,
kefu_common.periods) or as instants with their offset; the period is `[start, end)`."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, Field

from kefu_common import periods

_HELP = "A date `YYYY-MM-DD` (local midnight in `tz`) or an instant with its offset; the period is [start, end)"


class PeriodBounds(BaseModel):
    """Mixed into the query model of a list that filters by a period."""

    start: AwareDatetime | date | None = Field(default=None, description=_HELP)
    end: AwareDatetime | date | None = Field(default=None, description=_HELP)
    tz: str = Field(default=periods.DEFAULT_TZ, max_length=64, description="Time zone of date bounds")

    def utc_bounds(self) -> tuple[datetime | None, datetime | None]:
        """The bounds as instants (an unknown `tz` is InvalidArgument `invalid_time_zone`)."""
        def instant(value: datetime | date | None) -> datetime | None:
            if value is None or isinstance(value, datetime):
                return value
            return periods.local_midnight(value, periods.zone(self.tz))

        return instant(self.start), instant(self.end)

    def dates(self) -> dict[str, date | None]:
        """The bounds as dates, for an export's file name."""
        def as_date(value: datetime | date | None) -> date | None:
            return value.date() if isinstance(value, datetime) else value

        return {"start": as_date(self.start), "end": as_date(self.end)}
