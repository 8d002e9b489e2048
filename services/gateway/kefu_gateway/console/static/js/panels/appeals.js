// 申诉: open appeals of agents against hits; uphold (the hit is overturned) or reject.
import { get, post } from "../api.js";
import { el, emptyState, localTime, setState, table, timeAgo, toast } from "../ui.js";

const ROUTE = "/v1/qa/appeals";

export default {
  id: "appeals",
  title: "申诉处理",
  titleEn: "Open appeals",
  hint: "坐席对命中的申诉 · agents' appeals against hits, oldest first",
  routeLabel: "GET " + ROUTE + "?status=open",
  csv: () => ({ path: ROUTE, params: { status: "open" } }),
  async load(state, body, ctx) {
    const page = await get(ROUTE, { status: "open", page_size: 50 });
    if (!page.items.length) return emptyState(body, "没有待处理的申诉 No open appeal");
    const decide = async (a, outcome) => {
      try {
        await post(`${ROUTE}/${encodeURIComponent(a.id)}/decision`, { outcome });
        toast(outcome === "upheld" ? "申诉成立 Appeal upheld" : "申诉驳回 Appeal rejected", "good");
        ctx.reload("appeals");
        ctx.reload("review-queue");
      } catch (err) {
        toast(`${err.code}: ${err.message}`, "bad");
      }
    };
    setState(body, "ready", el("div", { class: "table-wrap" }, table([
      { label: "提交 Filed", render: (a) => el("span", { title: localTime(a.created_at), text: timeAgo(a.created_at) }) },
      { label: "坐席 Agent", render: (a) => a.appellant },
      { label: "团队 Team", render: (a) => a.team || "—" },
      { label: "规则 Rule", render: (a) => a.rule_id ? el("code", { text: a.rule_id }) : "—" },
      { label: "理由 Reason", render: (a) => el("span", { class: "clip", title: a.reason, text: a.reason }) },
      { label: "命中 Hit", render: (a) => el("button", { type: "button", class: "btn small ghost", onclick: () => ctx.openEvaluation(a.evaluation_id) }, `#${a.hit_index + 1} 查看 view`) },
      { label: "处理 Decide", render: (a) => el("span", { class: "hit-actions" },
          el("button", { type: "button", class: "btn small good", onclick: () => decide(a, "upheld") }, "成立 Uphold"),
          el("button", { type: "button", class: "btn small bad", onclick: () => decide(a, "rejected") }, "驳回 Reject")) },
    ], page.items)));
  },
};
