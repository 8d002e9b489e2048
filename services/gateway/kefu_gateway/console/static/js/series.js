// Reading the contract's series answer (docs/reports-contract.md):
// {start, end, tz, bucket, group_by, series: [{group, buckets: [{start, end, values, previous}]}]}

import { addDays } from "./period.js";

export function bucketLabel(b, bucket) {
  const last = addDays(b.end, -1);
  if (bucket === "day" || b.start === last) return b.start.slice(5);
  if (bucket === "month") return b.start.slice(0, 7);
  return `${b.start.slice(5)}~${last.slice(5)}`;
}

export function categories(report) {
  const first = report.series?.[0];
  return first ? first.buckets.map((b) => bucketLabel(b, report.bucket)) : [];
}

export function column(series, key, { previous = false } = {}) {
  return series.buckets.map((b) => {
    const source = previous ? b.previous : b.values;
    return source ? source[key] ?? null : null;
  });
}

// Sum (or last value) of one figure over the buckets of a series.
export function total(series, key, { previous = false } = {}) {
  return column(series, key, { previous }).reduce((a, v) => a + (v || 0), 0);
}

export function hasPrevious(report) {
  return Boolean(report.series?.[0]?.buckets?.some((b) => b.previous));
}
