// The console: sign-in, the period toolbar, and the panels (one module each under panels/).
import { ApiError, clearToken, downloadCsv, get, getToken, setToken, tokenClaims } from "./api.js";
import { closeEvaluation, openEvaluation } from "./evaluation.js";
import { renderKpis } from "./kpis.js";
import { presetRange, rangeLabel } from "./period.js";
import { errorState, frame, missingRoute, startTicker, toast } from "./ui.js";
import appeals from "./panels/appeals.js";
import backlog from "./panels/backlog.js";
import createdResolved from "./panels/created_resolved.js";
import csat from "./panels/csat.js";
import escalations from "./panels/escalations.js";
import qaScores from "./panels/qa_scores.js";
import reviewQueue from "./panels/review_queue.js";
import ruleHits from "./panels/rule_hits.js";
import satisfaction from "./panels/satisfaction.js";
import slaAtRisk from "./panels/sla_at_risk.js";
import slaAttainment from "./panels/sla_attainment.js";
import teamMetrics from "./panels/team_metrics.js";
import voc from "./panels/voc.js";

const PANELS = [createdResolved, backlog, teamMetrics, slaAtRisk, slaAttainment, escalations,
  qaScores, ruleHits, reviewQueue, appeals, voc, csat, satisfaction];
const CONSOLE_ROLES = ["lead", "qa", "admin"]; // DOMAIN.md §5
const $ = (id) => document.getElementById(id);

const state = { preset: "30d", range: presetRange("30d"), bucket: "day", compare: true, reviewFilters: { source: "queue", reviewed: "false" } };

const ctx = {
  state,
  openEvaluation: (id) => openEvaluation(id, { onChange: () => { ctx.reload("review-queue"); ctx.reload("rule-hits"); ctx.reload("qa-scores"); } }),
  reload: (id) => loadPanel(PANELS.find((p) => p.id === id)),
};

async function loadPanel(panel) {
  const article = document.querySelector(`[data-panel="${panel.id}"]`);
  const body = frame(article, panel, async () => {
    const { path, params } = panel.csv(state);
    try {
      const name = await downloadCsv(path, params, `${panel.id}-${state.range.start}-${state.range.end}.csv`);
      toast(`已下载 Downloaded ${name}`, "good");
    } catch (err) {
      toast(`CSV: ${err.code || "error"} — ${err.message}`, "bad");
    }
  });
  try {
    await panel.load(state, body, ctx);
  } catch (err) {
    if (err instanceof ApiError && err.routeMissing) missingRoute(body, panel.routeLabel);
    else if (err instanceof ApiError && err.status === 401) return signOut("登录已过期 Please sign in again");
    else errorState(body, err);
  }
}

async function loadAll() {
  $("range-label").textContent = rangeLabel(state.range) + " · Asia/Shanghai";
  renderKpis($("kpis"), state).catch((err) => {
    $("kpis").textContent = `${err.code || "error"}: ${err.message}`;
  });
  await Promise.all(PANELS.map(loadPanel));
  document.body.dataset.loaded = String(Date.now());
}

function selectPreset(preset) {
  state.preset = preset;
  for (const b of document.querySelectorAll("[data-preset]")) b.classList.toggle("active", b.dataset.preset === preset);
  $("custom-range").hidden = preset !== "custom";
  if (preset === "custom") {
    $("range-start").value = state.range.start;
    const last = new Date(new Date(state.range.end + "T00:00:00Z").getTime() - 86400000).toISOString().slice(0, 10);
    $("range-end").value = last;
    return;
  }
  state.range = presetRange(preset);
  if (preset === "today" && state.bucket !== "day") $("bucket").value = state.bucket = "day";
  loadAll();
}

function showConsole(claims) {
  $("sign-in-view").hidden = true;
  $("console-view").hidden = false;
  $("topnav").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = claims.sub;
  $("who-role").textContent = claims.role;
  selectPreset(state.preset);
}

function signOut(message) {
  clearToken();
  closeEvaluation();
  $("console-view").hidden = true;
  $("topnav").hidden = true;
  $("who").hidden = true;
  $("sign-in-view").hidden = false;
  $("sign-in-error").textContent = message || "";
}

// A token is accepted when the gateway accepts it on a staff route and its role is a console
// role; the gateway checks every later call anyway.
async function signIn(token) {
  const claims = tokenClaims(token);
  if (!claims) throw new Error("这不是有效的令牌 This is not a bearer token (JWT)");
  if (!CONSOLE_ROLES.includes(claims.role)) {
    throw new Error(`大盘仅限组长、质检与管理员 The console is for lead, qa and admin roles (this token: ${claims.role})`);
  }
  setToken(token);
  try {
    await get("/v1/qa/reports/agreement", {});
  } catch (err) {
    clearToken();
    throw err;
  }
  showConsole(claims);
}

function wire() {
  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("sign-in-error").textContent = "";
    try {
      await signIn($("token-input").value.trim());
      $("token-input").value = "";
    } catch (err) {
      $("sign-in-error").textContent = err.code ? `${err.code}: ${err.message}` : err.message;
    }
  });
  if (document.body.dataset.devSignIn === "true") {
    $("dev-sign-in").hidden = false;
    $("dev-role").addEventListener("change", () => ($("dev-subject").value = "demo-" + $("dev-role").value));
    $("dev-sign-in-button").addEventListener("click", async () => {
      try {
        const r = await fetch("/console/dev-sign-in", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ role: $("dev-role").value, subject: $("dev-subject").value }),
        });
        const answer = await r.json();
        if (!r.ok) throw new ApiError(r.status, answer, "/console/dev-sign-in");
        await signIn(answer.token);
      } catch (err) {
        $("sign-in-error").textContent = err.code ? `${err.code}: ${err.message}` : err.message;
      }
    });
  }
  $("sign-out").addEventListener("click", () => signOut());
  for (const b of document.querySelectorAll("[data-preset]")) b.addEventListener("click", () => selectPreset(b.dataset.preset));
  $("apply-range").addEventListener("click", () => {
    const start = $("range-start").value;
    const last = $("range-end").value;
    if (!start || !last || last < start) return toast("请选择有效的日期 Choose a valid range", "bad");
    const end = new Date(new Date(last + "T00:00:00Z").getTime() + 86400000).toISOString().slice(0, 10);
    state.range = { start, end };
    loadAll();
  });
  $("bucket").addEventListener("change", (e) => { state.bucket = e.target.value; loadAll(); });
  $("compare").addEventListener("change", (e) => { state.compare = e.target.checked; loadAll(); });
  $("refresh").addEventListener("click", () => loadAll());
  $("drawer-close").addEventListener("click", closeEvaluation);
  document.addEventListener("keydown", (e) => e.key === "Escape" && closeEvaluation());
  for (const a of document.querySelectorAll("#topnav a")) {
    a.addEventListener("click", () => {
      document.querySelectorAll("#topnav a").forEach((x) => x.classList.toggle("active", x === a));
    });
  }
}

function boot() {
  wire();
  startTicker();
  const token = getToken();
  const claims = token && tokenClaims(token);
  if (claims && CONSOLE_ROLES.includes(claims.role) && claims.exp * 1000 > Date.now()) showConsole(claims);
  else signOut();
}

boot();
