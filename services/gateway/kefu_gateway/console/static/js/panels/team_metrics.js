// 团队服务指标: FCR, average proactive contacts, repeat contact ratio per team (DOMAIN.md §4).
import { chartBox, draw } from "../charts.js";
import { metricsCsv, serviceMetrics } from "../metrics.js";
import { delta, el, emptyState, num, pct, setState, table } from "../ui.js";

const ROUTE = "/v1/reports/service-metrics";

export default {
  id: "team-metrics",
  title: "团队服务指标",
  titleEn: "Service metrics per team",
  hint: "一次性解决率 FCR · 平均主动接触频次 avg proactive contacts · 重复接触占比 repeat contact ratio",
  routeLabel: "GET " + ROUTE + "?group_by=team",
  csv: (state) => metricsCsv(state, "team"),
  async load(state, body) {
    const { now, before } = await serviceMetrics(state, "team");
    const rows = now.filter((r) => r.created_tickets + r.resolved_tickets > 0);
    if (rows.length === 0) return emptyState(body);
    const prev = Object.fromEntries(before.map((r) => [r.group, r]));
    const name = (g) => g || "未分组 unassigned";
    const box = chartBox(250);
    const cols = [
      { label: "团队 Team", render: (r) => el("b", { text: name(r.group) }) },
      { label: "新建 Created", num: true, render: (r) => num(r.created_tickets) },
      { label: "解决 Resolved", num: true, render: (r) => num(r.resolved_tickets) },
      { label: "一次解决率 FCR", num: true, render: (r) => el("span", {}, pct(r.first_contact_resolution_rate), " ",
          state.compare && prev[r.group] ? delta(r.first_contact_resolution_rate, prev[r.group].first_contact_resolution_rate, { ratio: true }) : null) },
      { label: "平均主动接触 Avg proactive", num: true, render: (r) => el("span", {}, num(r.average_proactive_contacts, 2), " ",
          state.compare && prev[r.group] ? delta(r.average_proactive_contacts, prev[r.group].average_proactive_contacts, { higherIsBetter: false }) : null) },
      { label: "重复接触占比 Repeat ratio", num: true, render: (r) => el("span", {}, pct(r.repeat_contact_ratio), " ",
          state.compare && prev[r.group] ? delta(r.repeat_contact_ratio, prev[r.group].repeat_contact_ratio, { ratio: true, higherIsBetter: false }) : null) },
      { label: "72小时结案率 72h closure", num: true, render: (r) => pct(r.closure_rate_72h) },
      { label: "首响中位 FRT median", num: true, render: (r) => r.first_response_seconds_median ? num(r.first_response_seconds_median / 60, 1) + " min" : "—" },
      { label: "重开率 Reopen rate", num: true, render: (r) => pct(r.reopen_rate) },
    ];
    setState(body, "ready", el("div", { class: "split" }, box, el("div", { class: "table-wrap" }, table(cols, rows))));
    draw(box, {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      grid: { left: 8, right: 8, top: 44, bottom: 8, containLabel: true },
      legend: { top: 0, left: 0, icon: "roundRect", itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 11 } },
      xAxis: { type: "category", data: rows.map((r) => name(r.group)), axisTick: { show: false } },
      yAxis: [
        { type: "value", max: 1, axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } },
        { type: "value", splitLine: { show: false } },
      ],
      series: [
        { name: "FCR 一次解决率", type: "bar", barMaxWidth: 22, data: rows.map((r) => r.first_contact_resolution_rate), itemStyle: { color: "#2f6bff", borderRadius: [3, 3, 0, 0] } },
        { name: "重复接触占比 Repeat", type: "bar", barMaxWidth: 22, data: rows.map((r) => r.repeat_contact_ratio), itemStyle: { color: "#f59f00", borderRadius: [3, 3, 0, 0] } },
        { name: "平均主动接触 Avg proactive", type: "bar", yAxisIndex: 1, barMaxWidth: 22, data: rows.map((r) => r.average_proactive_contacts), itemStyle: { color: "#7048e8", borderRadius: [3, 3, 0, 0] } },
      ],
    });
  },
};
