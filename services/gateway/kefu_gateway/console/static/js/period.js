// Date ranges of the toolbar: calendar dates in the report time zone, end exclusive, as in
// docs/reports-contract.md (`start`, `end`, `tz`, `bucket`, `compare`).

import { TZ } from "./api.js";

const DAY = 86400000;

// Today's calendar date in `tz` as YYYY-MM-DD.
export function todayIn(tz = TZ, now = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(now);
}

function toDate(iso) {
  return new Date(iso + "T00:00:00Z");
}
function fromDate(d) {
  return d.toISOString().slice(0, 10);
}
export function addDays(iso, n) {
  return fromDate(new Date(toDate(iso).getTime() + n * DAY));
}
export function daysBetween(a, b) {
  return Math.round((toDate(b) - toDate(a)) / DAY);
}

export function presetRange(preset, today = todayIn()) {
  const [y, m] = today.split("-").map(Number);
  const first = (yy, mm) => fromDate(new Date(Date.UTC(yy, mm - 1, 1)));
  switch (preset) {
    case "today":
      return { start: today, end: addDays(today, 1) };
    case "7d":
      return { start: addDays(today, -6), end: addDays(today, 1) };
    case "30d":
      return { start: addDays(today, -29), end: addDays(today, 1) };
    case "this_month":
      return { start: first(y, m), end: addDays(today, 1) };
    case "last_month":
      return { start: m === 1 ? first(y - 1, 12) : first(y, m - 1), end: first(y, m) };
    default:
      return null;
  }
}

// The range of equal length just before (the `compare=previous` of a whole range).
export function previousRange({ start, end }) {
  const n = daysBetween(start, end);
  return { start: addDays(start, -n), end: start };
}

// Offset of `tz` at a given date, as "+08:00" (for the routes that take instants).
function offsetOf(iso, tz) {
  const d = new Date(iso + "T12:00:00Z");
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" }).formatToParts(d);
  const name = parts.find((p) => p.type === "timeZoneName")?.value || "GMT+08:00";
  const off = name.replace("GMT", "");
  return off === "" ? "+00:00" : off;
}
// Local midnight of a calendar date in `tz`, as an ISO instant with its offset.
export function instantOf(iso, tz = TZ) {
  return `${iso}T00:00:00${offsetOf(iso, tz)}`;
}

// The query of a series report (the contract's parameter names).
export function seriesParams(state, extra = {}) {
  return {
    start: state.range.start,
    end: state.range.end,
    tz: TZ,
    bucket: state.bucket,
    compare: state.compare ? "previous" : "none",
    ...extra,
  };
}

export function rangeLabel({ start, end }) {
  const last = addDays(end, -1);
  return start === last ? start : `${start} → ${last}`;
}
