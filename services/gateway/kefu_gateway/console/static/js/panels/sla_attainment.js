// SLA 达标率: attainment per target and the escalation rate over the period.
import { get } from "../api.js";
import { chartBox, draw } from "../charts.js";
import { instantOf, previousRange } from "../period.js";
import { delta, el, emptyState, num, pct, setState } from "../ui.js";

const ROUTE = "/v1/reports/sla";
export const TARGET_LABELS = {
  first_response: "首次响应 First response", resolution: "解决 Resolution",
  next_update: "进度更新 Next update", escalation_ack: "升级确认 Escalation ack",
};
const params = (range) => ({ period_start: instantOf(range.start), period_end: instantOf(range.end) });

export default {
  id: "sla-attainment",
  title: "SLA 达标率",
  titleEn: "SLA attainment",
  hint: "按目标 · per target, targets that ended in the period",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: params(state.range) }),
  async load(state, body) {
    const [now, before] = await Promise.all([
      get(ROUTE, params(state.range)),
      state.compare ? get(ROUTE, params(previousRange(state.range))) : Promise.resolve(null),
    ]);
    const targets = now.targets.filter((t) => t.finished > 0);
    if (targets.length === 0 && now.cycles_opened === 0) return emptyState(body);
    const prevOf = (t) => before?.targets.find((p) => p.target === t.target);
    const box = chartBox(Math.max(140, 52 * targets.length + 30));
    const figures = el("div", { class: "inline-figures" },
      el("span", {}, "升级率 Escalation rate ", el("b", { text: pct(now.escalation_rate) }), " ",
        before ? delta(now.escalation_rate, before.escalation_rate, { ratio: true, higherIsBetter: false }) : null),
      el("span", {}, "升级工单 Escalated ", el("b", { text: num(now.tickets_escalated) }), " / ", num(now.cycles_opened)));
    const list = el("ul", { class: "attain-list" }, targets.map((t) =>
      el("li", {}, el("span", { text: TARGET_LABELS[t.target] || t.target }),
        el("b", { text: pct(t.attainment) }),
        el("span", { class: "muted", text: ` ${t.met}/${t.finished}` }), " ",
        prevOf(t) && prevOf(t).finished ? delta(t.attainment, prevOf(t).attainment, { ratio: true }) : null)));
    setState(body, "ready", figures, box, list);
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
  },
};
