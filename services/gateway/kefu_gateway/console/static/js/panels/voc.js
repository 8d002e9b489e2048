// 客户之声: the reasons customers get in touch about (share, change against the previous
// period, trend per bucket, a PII-masked quote) and the spikes (突发); the words every
// conversation shares are left out by the report and listed as such.
import { get } from "../api.js";
import { chartBox, rankChart, timeChart } from "../charts.js";
import { seriesParams } from "../period.js";
import { categories, column } from "../series.js";
import { delta, el, emptyState, num, pct, setState, table } from "../ui.js";

const ROUTE = "/v1/reports/voc";
const params = (state) => ({ ...seriesParams(state), limit: 8, examples: 1 });

function reasonsView(report, state) {
  const reasons = report.reasons.slice(0, 8);
  const label = (r) => r.label || r.phrases.slice(0, 3).join(" / ");
  const rank = chartBox(Math.max(170, 30 * reasons.length + 20));
  setTimeout(() => rankChart(rank, reasons.map(label), reasons.map((r) => r.share ?? 0),
    { name: "占比 Share", color: "#7048e8", format: (v) => pct(v, 0) }));
  const parts = [rank];
  if (report.series?.length && report.series[0].buckets.length > 1) {
    const trend = chartBox(200);
    parts.push(el("div", { class: "subhead", text: "趋势 Trend — share of conversations per bucket" }), trend);
    setTimeout(() => timeChart(trend, categories(report), report.series.slice(0, 5).map((s) => ({
      name: s.group.replace(/^#\d+ /, ""), type: "line", data: column(s, "share"),
    })), { percentAxis: false }));
  }
  parts.push(el("ul", { class: "reasons" }, reasons.slice(0, 5).map((r) => el("li", {},
    el("div", {}, el("b", { text: label(r) }), " ",
      r.spike ? el("span", { class: "pill fatal", text: "突发 spike ×" + num(r.lift, 1) }) : null,
      el("span", { class: "muted", text: ` ${num(r.conversations)} 通 conv. · ${pct(r.share, 0)} ` }),
      state.compare && r.previous_share !== null ? delta(r.share, r.previous_share, { ratio: true, higherIsBetter: false }) : null),
    r.examples.slice(0, 1).map((q) => el("div", { class: "quote", text: "“" + q.text + "”" }))))));
  const boilerplate = (report.groups || []).flatMap((g) => g.boilerplate).slice(0, 12);
  if (boilerplate.length) {
    parts.push(el("div", { class: "muted small", text: "已排除套话 Left out (in nearly every conversation, or scripts): " + boilerplate.join("、") }));
  }
  return parts;
}

function termsView(report) {
  const terms = report.terms.slice(0, 10);
  const spikes = [...report.terms, ...report.phrases].filter((t) => t.spike);
  const box = chartBox(Math.max(170, 26 * terms.length + 20));
  setTimeout(() => rankChart(box, terms.map((t) => t.term), terms.map((t) => t.conversations), { name: "会话 Conversations", color: "#1098ad" }));
  return [
    box,
    el("div", { class: "subhead", text: `突发 Spikes (${spikes.length}) — lift against the trailing baseline` }),
    spikes.length
      ? el("div", { class: "table-wrap" }, table([
          { label: "词 Term", render: (t) => el("b", { text: t.term }) },
          { label: "会话 Conv.", num: true, render: (t) => num(t.conversations) },
          { label: "基线 Baseline", num: true, render: (t) => num(t.baseline_conversations) },
          { label: "提升 Lift", num: true, render: (t) => "×" + num(t.lift, 1) },
        ], spikes.slice(0, 6)))
      : el("div", { class: "muted", text: "无突发 No spike" }),
  ];
}

export default {
  id: "voc",
  title: "客户之声",
  titleEn: "Voice of customer: reasons & spikes",
  hint: "客户为什么来电 · why customers get in touch, and what is suddenly rising",
  routeLabel: "GET " + ROUTE,
  csv: (state) => ({ path: ROUTE, params: params(state) }),
  async load(state, body) {
    const report = await get(ROUTE, params(state));
    if (!report.conversations) return emptyState(body);
    const spikes = (report.reasons || []).filter((r) => r.spike).length;
    const head = el("div", { class: "inline-figures" },
      el("span", {}, "会话 Conversations ", el("b", { text: num(report.conversations) })),
      el("span", {}, "原因 Reasons ", el("b", { text: num((report.reasons || []).length) })),
      el("span", { class: spikes ? "bad-text" : "" }, "突发 Spikes ", el("b", { text: num(spikes) })));
    setState(body, "ready", head, ...(report.reasons?.length ? reasonsView(report, state) : termsView(report)));
  },
};
