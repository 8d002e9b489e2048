// The key figures across the top, each against the previous period of the same length.
import { ApiError, TZ, get } from "./api.js";
import { serviceMetrics } from "./metrics.js";
import { instantOf, previousRange } from "./period.js";
import { delta, el, num, pct } from "./ui.js";

const sla = (range) => get("/v1/reports/sla", { period_start: instantOf(range.start), period_end: instantOf(range.end) });
const attainment = (report, target) => report?.targets.find((t) => t.target === target && t.finished > 0)?.attainment ?? null;

function card(label, labelEn, value, change, id) {
  return el("div", { class: "kpi", "data-kpi": id },
    el("div", { class: "kpi-label" }, label, " ", el("span", { class: "en", text: labelEn })),
    el("div", { class: "kpi-value", text: value }),
    el("div", { class: "kpi-delta" }, change || el("span", { class: "delta flat", text: " " })));
}

async function csat(state) {
  try {
    const r = await get("/v1/reports/csat", { start: state.range.start, end: state.range.end, tz: TZ, bucket: "none", compare: state.compare ? "previous" : "none" });
    return r.series[0].buckets[0];
  } catch (err) {
    if (err instanceof ApiError && err.routeMissing) return null;
    throw err;
  }
}

export async function renderKpis(node, state) {
  const prev = previousRange(state.range);
  const [m, s, sp, c] = await Promise.all([
    serviceMetrics(state), sla(state.range), state.compare ? sla(prev) : null, csat(state),
  ]);
  const row = m.now[0];
  const before = m.before[0];
  const cmp = (key, opts) => (before ? delta(row[key], before[key], opts) : null);
  const resolution = attainment(s, "resolution");
  const firstResponse = attainment(s, "first_response");
  node.replaceChildren(...[
    card("新建工单", "Created", num(row.created_tickets), cmp("created_tickets", { higherIsBetter: false }), "created"),
    card("已解决", "Resolved", num(row.resolved_tickets), cmp("resolved_tickets"), "resolved"),
    card("一次解决率", "FCR", pct(row.first_contact_resolution_rate), cmp("first_contact_resolution_rate", { ratio: true }), "fcr"),
    card("重复接触占比", "Repeat contacts", pct(row.repeat_contact_ratio), cmp("repeat_contact_ratio", { ratio: true, higherIsBetter: false }), "repeat"),
    card("首响达标", "First response SLA", pct(firstResponse), sp && firstResponse !== null && attainment(sp, "first_response") !== null ? delta(firstResponse, attainment(sp, "first_response"), { ratio: true }) : null, "frt-sla"),
    card("解决达标", "Resolution SLA", pct(resolution), sp && resolution !== null && attainment(sp, "resolution") !== null ? delta(resolution, attainment(sp, "resolution"), { ratio: true }) : null, "res-sla"),
    card("升级率", "Escalation rate", pct(s.escalation_rate), sp ? delta(s.escalation_rate, sp.escalation_rate, { ratio: true, higherIsBetter: false }) : null, "esc"),
    c ? card("客户满意度", "CSAT", pct(c.values.csat), c.previous?.ratings ? delta(c.values.csat, c.previous.csat, { ratio: true }) : null, "csat") : null,
  ].filter(Boolean));
}
