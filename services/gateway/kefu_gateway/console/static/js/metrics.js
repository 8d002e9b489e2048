// Service metrics (DOMAIN.md §4) over the whole range and its previous span, as rows per group.
// Reads the series contract (`start`/`end`/`bucket=none`: one bucket per group, `previous`
// beside it); a gateway that still has the single-period route (`period_start`/`period_end`,
// answered with `rows`) is read the old way, so the console works on either.
import { ApiError, TZ, get } from "./api.js";
import { instantOf, previousRange } from "./period.js";

const ROUTE = "/v1/reports/service-metrics";

let singlePeriod = false; // learnt from the first answer: this gateway has the old route

export async function serviceMetrics(state, groupBy = "none") {
  if (!singlePeriod) try {
    const report = await get(ROUTE, {
      start: state.range.start, end: state.range.end, tz: TZ, bucket: "none",
      compare: state.compare ? "previous" : "none", group_by: groupBy,
    });
    return {
      now: report.series.map((s) => ({ group: s.group, ...s.buckets[0].values })),
      before: state.compare ? report.series.map((s) => ({ group: s.group, ...(s.buckets[0].previous || {}) })) : [],
    };
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 422)) throw err;
    singlePeriod = true;
  }
  const period = (range) => ({ period_start: instantOf(range.start), period_end: instantOf(range.end), group_by: groupBy });
  const [now, before] = await Promise.all([
    get(ROUTE, period(state.range)),
    state.compare ? get(ROUTE, period(previousRange(state.range))) : Promise.resolve({ rows: [] }),
  ]);
  return { now: now.rows, before: before.rows };
}

export function metricsCsv(state, groupBy) {
  return { path: ROUTE, params: { start: state.range.start, end: state.range.end, tz: TZ, bucket: state.bucket, group_by: groupBy } };
}
