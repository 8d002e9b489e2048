// SLA 达标率: attainment per target over the range (previous period beside it), its trend per
// bucket, and the escalation rate (GET /v1/reports/sla-attainment and /escalations, series).
// A gateway without those series routes is read through the single-period GET /v1/reports/sla.
import { ApiError, get } from "../api.js";
import { chartBox, draw, timeChart } from "../charts.js";
import { instantOf, previousRange, seriesParams } from "../period.js";
import { categories, column } from "../series.js";
import { delta, el, emptyState, num, pct, setState } from "../ui.js";

const ROUTE = "/v1/reports/sla-attainment";
const ESCALATIONS = "/v1/reports/escalations";
const OLD = "/v1/reports/sla";
export const TARGET_LABELS = {
  first_response: "首次响应 First response", resolution: "解决 Resolution",
  next_update: "进度更新 Next update", escalation_ack: "升级确认 Escalation ack",
};
const TARGETS = Object.keys(TARGET_LABELS);

// The figures of the whole range as the old report's shape: {targets: [...], escalation_rate, ...}.
function fromSeries(totals, escalations, previous) {
  const pick = (v) => TARGETS.map((t) => ({
    target: t, finished: v[t + "_finished"], met: v[t + "_met"], attainment: v[t + "_attainment"],
  }));
  const b = totals.series[0].buckets[0];
  const e = escalations.series[0].buckets[0];
  const side = previous ? "previous" : "values";
  if (!b[side]) return null;
  return {
    targets: pick(b[side]), escalation_rate: e[side].escalation_rate,
    tickets_escalated: e[side].tickets_escalated, cycles_opened: e[side].tickets_opened,
  };
}

async function load(state) {
  try {
    const whole = { ...seriesParams(state), bucket: "none" };
    const [totals, escalations, trend] = await Promise.all([
      get(ROUTE, whole), get(ESCALATIONS, whole), get(ROUTE, { ...seriesParams(state), compare: "none" }),
    ]);
    return { now: fromSeries(totals, escalations, false), before: state.compare ? fromSeries(totals, escalations, true) : null, trend };
  } catch (err) {
    if (!(err instanceof ApiError && err.routeMissing)) throw err;
  }
  const params = (range) => ({ period_start: instantOf(range.start), period_end: instantOf(range.end) });
  const [now, before] = await Promise.all([
    get(OLD, params(state.range)), state.compare ? get(OLD, params(previousRange(state.range))) : null,
  ]);
  return { now, before, trend: null };
}

export default {
  id: "sla-attainment",
  title: "SLA 达标率",
  titleEn: "SLA attainment",
  hint: "按目标，统计期内结束的目标 · per target, targets that ended in the period",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: seriesParams(state) }),
  async load(state, body) {
    const { now, before, trend } = await load(state);
    const targets = now.targets.filter((t) => t.finished > 0);
    if (targets.length === 0 && !now.cycles_opened) return emptyState(body);
    const prevOf = (t) => before?.targets.find((p) => p.target === t.target);
    const box = chartBox(Math.max(120, 46 * targets.length + 30));
    const figures = el("div", { class: "inline-figures" },
      el("span", {}, "升级率 Escalation rate ", el("b", { text: pct(now.escalation_rate) }), " ",
        before ? delta(now.escalation_rate, before.escalation_rate, { ratio: true, higherIsBetter: false }) : null),
      el("span", {}, "升级工单 Escalated ", el("b", { text: num(now.tickets_escalated) }), " / ", num(now.cycles_opened)));
    const list = el("ul", { class: "attain-list" }, targets.map((t) =>
      el("li", {}, el("span", { text: TARGET_LABELS[t.target] || t.target }),
        el("b", { text: pct(t.attainment) }),
        el("span", { class: "muted", text: ` ${t.met}/${t.finished}` }), " ",
        prevOf(t)?.finished ? delta(t.attainment, prevOf(t).attainment, { ratio: true }) : null)));
    const parts = [figures, box, list];
    let trendBox = null;
    if (trend && trend.series[0]?.buckets.length > 1) {
      trendBox = chartBox(170);
      parts.push(el("div", { class: "subhead", text: "趋势 Trend per bucket" }), trendBox);
    }
    setState(body, "ready", ...parts);
    draw(box, {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      grid: { left: 8, right: 40, top: 28, bottom: 4, containLabel: true },
      xAxis: { type: "value", max: 1, axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } },
      yAxis: { type: "category", data: targets.map((t) => TARGET_LABELS[t.target] || t.target), axisTick: { show: false } },
      series: [
        { name: "达标 Met", type: "bar", barMaxWidth: 16, data: targets.map((t) => t.attainment),
          itemStyle: { color: "#12b886", borderRadius: [0, 3, 3, 0] },
          label: { show: true, position: "right", formatter: (p) => Math.round(p.value * 1000) / 10 + "%" } },
        ...(before ? [{ name: "上期 Previous", type: "bar", barMaxWidth: 8,
          data: targets.map((t) => prevOf(t)?.finished ? prevOf(t).attainment : null), itemStyle: { color: "#cbd5e1" } }] : []),
      ],
    });
    if (trendBox) {
      const s = trend.series[0];
      timeChart(trendBox, categories(trend), [
        { name: "首次响应 First response", type: "line", data: column(s, "first_response_attainment"), color: "#1098ad" },
        { name: "解决 Resolution", type: "line", data: column(s, "resolution_attainment"), color: "#12b886" },
      ], { percentAxis: true });
    }
  },
};
