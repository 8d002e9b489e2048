"""Mainland China's public holidays and make-up workdays (调休) for business-hours calendars
(issue #14.17).

The State Council publishes each year's schedule in the autumn before it; `chinesecalendar`
(a well-kept package that ships every published year) is the source, cross-checked against
`holidays` (its CN calendar names each in-lieu day off "substituted from <the make-up
workday>"): both must agree on every weekday off and every make-up workday of a year, or the
import is refused. Seeded for the `cn-business` calendar by migration 0010; a new year is
imported with

    python -m kefu_escalation.configuration.cn_holidays --year 2027 [--calendar cn-business]

(after upgrading chinesecalendar to a release that has it). A calendar that lists holidays
is taken to list them for every year it covers: the SLA view flags a deadline that reaches
into a year without any (`unpublished_years`), whose due time assumes plain weekdays there.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["CnYear", "HolidayDataMissing", "cn_year", "published_years", "uncovered_years", "with_years"]


class HolidayDataMissing(ValueError):
    """The data packages have no published schedule for a year, or disagree about it."""


@dataclass(frozen=True)
class CnYear:
    year: int
    days_off: tuple[date, ...]  # weekdays off (holidays and in-lieu days); weekends are off anyway
    workdays: tuple[date, ...]  # weekend days worked (调休)


_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


def _chinesecalendar(year: int) -> CnYear:
    from chinese_calendar import constants

    off = sorted(d for d in constants.holidays if d.year == year and d.weekday() < 5)
    worked = sorted(d for d in constants.workdays if d.year == year and d.weekday() >= 5)
    if not off:
        import chinese_calendar

        raise HolidayDataMissing(f"chinesecalendar {getattr(chinese_calendar, '__version__', '?')} has no "
                                 f"published schedule for {year}; upgrade it to a release that does")
    return CnYear(year, tuple(off), tuple(worked))


def _holidays_package(year: int) -> tuple[set[date], set[date]]:
    import holidays

    cn = holidays.country_holidays("CN", years=year, language="en_US")
    off = {d for d in cn if d.weekday() < 5}
    worked = set()
    for name in cn.values():
        for month, day, yyyy in _SUBSTITUTED.findall(name):
            worked.add(date(int(yyyy), int(month), int(day)))
    return off, {d for d in worked if d.year == year}


def cn_year(year: int) -> CnYear:
    """The year's schedule from chinesecalendar, refused unless `holidays` agrees."""
    found = _chinesecalendar(year)
    off, worked = _holidays_package(year)
    problems = []
    if set(found.days_off) != off:
        problems.append(f"weekdays off differ: {sorted(set(found.days_off) ^ off)}")
    if set(found.workdays) != worked:
        problems.append(f"make-up workdays differ: {sorted(set(found.workdays) ^ worked)}")
    if problems:
        raise HolidayDataMissing(f"chinesecalendar and holidays disagree about {year}: {'; '.join(problems)}")
    return found


def with_years(spec: Mapping[str, Any], years: Iterable[CnYear], workday_hours: Sequence[str]) -> dict[str, Any]:
    """The calendar spec with these years' holidays and make-up workdays (`workday_hours` each)
    replacing whatever it listed for them; other years are kept."""
    chosen = {y.year: y for y in years}
    holidays = [d for d in spec.get("holidays", ()) if date.fromisoformat(d).year not in chosen]
    extra = {d: list(h) for d, h in (spec.get("extra_workdays") or {}).items()
             if date.fromisoformat(d).year not in chosen}
    for y in chosen.values():
        holidays += [d.isoformat() for d in y.days_off]
        extra.update({d.isoformat(): list(workday_hours) for d in y.workdays})
    return {**spec, "holidays": sorted(holidays), "extra_workdays": dict(sorted(extra.items()))}


def published_years(holidays: Iterable[date]) -> frozenset[int]:
    return frozenset(d.year for d in holidays)


def uncovered_years(holidays: frozenset[date], start: datetime, end: datetime, tz: str) -> tuple[int, ...]:
    """Years from `start` to `end` (in the calendar's zone) a calendar with holiday data lists
    none for; () for a calendar without holidays (24x7, or one that never had any)."""
    if not holidays or end < start:
        return ()
    covered = published_years(holidays)
    zone = ZoneInfo(tz)  # instances are cached by zoneinfo
    first, last = start.astimezone(zone).year, end.astimezone(zone).year
    return tuple(y for y in range(first, last + 1) if y not in covered)


# ------------------------------------------------------------------------------ command


async def _import(calendar_name: str, years: Sequence[int], url: str) -> dict[str, Any]:
    from kefu_common.clock import SystemClock
    from kefu_common.db import Database
    from kefu_escalation.configuration import service

    schedule = [cn_year(y) for y in years]  # refused before anything is written
    db = Database(url, schema="escalation", pool_size=1)
    try:
        async with db.session() as session:
            row = await service.get_calendar(session, calendar_name)
            current = service.stored_spec(row)
            hours = _weekday_hours(current)
            merged = with_years(current, schedule, hours)
            spec = service.calendar_spec(name=calendar_name, tz=merged["tz"], weekly=merged["weekly"],
                                         holidays=merged["holidays"], extra_workdays=merged["extra_workdays"])
            await service.upsert_calendar(session, spec, now=SystemClock().now())
        return spec
    finally:
        await db.dispose()


def _weekday_hours(spec: Mapping[str, Any]) -> list[str]:
    """A make-up workday keeps a regular weekday's hours (Monday's, or the first weekday's)."""
    weekly = spec.get("weekly") or {}
    for day in ("mon", "tue", "wed", "thu", "fri"):
        if weekly.get(day):
            return list(weekly[day])
    raise HolidayDataMissing(f"calendar {spec.get('name')!r} has no weekday hours to give a make-up workday")


def main(argv: Sequence[str] | None = None) -> None:
    from kefu_common.logging import configure_logging, get_logger
    from kefu_escalation.app import service as escalation_service

    parser = argparse.ArgumentParser(prog="python -m kefu_escalation.configuration.cn_holidays",
                                     description="Import mainland China's holidays and 调休 into a calendar")
    parser.add_argument("--year", type=int, action="append", required=True, help="repeatable")
    parser.add_argument("--calendar", default="cn-business")
    args = parser.parse_args(argv)
    settings = escalation_service.settings_factory()
    configure_logging("escalation", level=settings.log_level, fmt=settings.effective_log_format)
    log = get_logger("kefu.escalation.cn_holidays")
    try:
        spec = asyncio.run(_import(args.calendar, sorted(set(args.year)), escalation_service.database_url(settings)))
    except HolidayDataMissing as err:
        log.error("cn_holidays_refused", error=str(err))
        raise SystemExit(2) from None
    log.info("cn_holidays_imported", calendar=args.calendar, years=sorted(set(args.year)),
             holidays=len(spec["holidays"]), extra_workdays=len(spec["extra_workdays"]))


if __name__ == "__main__":
    main()
