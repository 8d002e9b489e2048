// 客户之声: the reasons customers call about (with share, trend and quotes) and the spikes (突发).
import { get } from "../api.js";
import { chartBox, rankChart } from "../charts.js";
import { instantOf } from "../period.js";
import { el, emptyState, num, pct, setState, table } from "../ui.js";

const ROUTE = "/v1/reports/voc";
const params = (state) => ({ start: instantOf(state.range.start), end: instantOf(state.range.end) });

function reasonsView(report) {
  const reasons = report.reasons.slice(0, 8);
  const box = chartBox(Math.max(170, 30 * reasons.length + 20));
  setTimeout(() => rankChart(box, reasons.map((r) => r.label || r.terms?.slice(0, 3).join(" / ")),
    reasons.map((r) => r.share), { name: "占比 Share", color: "#7048e8", format: (v) => pct(v, 0) }));
  return [box, el("ul", { class: "reasons" }, reasons.slice(0, 5).map((r) => el("li", {},
    el("div", {}, el("b", { text: r.label || r.terms?.slice(0, 3).join(" / ") }), " ",
      r.spike ? el("span", { class: "pill fatal", text: "突发 spike" }) : null,
      el("span", { class: "muted", text: ` ${num(r.conversations)} 通 · ${pct(r.share, 0)}` })),
    (r.quotes || r.examples || []).slice(0, 1).map((q) => el("div", { class: "quote", text: "“" + (q.text || q) + "”" })))))];
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
    const head = el("div", { class: "inline-figures" },
      el("span", {}, "会话 Conversations ", el("b", { text: num(report.conversations) })),
      el("span", {}, "基线 Baseline ", el("b", { text: num(report.baseline_conversations) })));
    setState(body, "ready", head, ...(report.reasons ? reasonsView(report) : termsView(report)));
  },
};
