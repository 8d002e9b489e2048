// The console is a client of Kefu's own API: the same /v1 routes, bearer tokens and
// problem+json as any other client. The token lives in sessionStorage (gone with the tab).

const TOKEN_KEY = "kefu.console.token";
export const TZ = "Asia/Shanghai";

export class ApiError extends Error {
  constructor(status, problem, path) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "http_" + status;
    this.problem = problem;
    this.path = path;
  }
  // The route itself is not on this server (a colleague's branch not merged yet): no such
  // path, or the path exists for another method only.
  get routeMissing() {
    return (this.status === 404 && this.code === "not_found") || this.status === 405;
  }
  get routeMissingOrOld() {
    return this.routeMissing || (this.status === 422 && this.code === "validation_error");
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}
export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// The claims of a JWT, read (not verified: the gateway verifies it on every call).
export function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      atob(part).split("").map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { title: response.statusText, status: response.status };
  }
}

export async function api(method, path, { params, body, headers } = {}) {
  const url = path + query(params);
  const init = { method, headers: { Accept: "application/json", ...(headers || {}) } };
  const token = getToken();
  if (token) init.headers.Authorization = "Bearer " + token;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (!response.ok) throw new ApiError(response.status, await problemOf(response), path);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, params) => api("GET", path, { params });
export const post = (path, body, headers) => api("POST", path, { body, headers });

// Every panel's CSV: the panel's own route with ?format=csv (docs/reports-contract.md),
// fetched with the bearer token and saved through a Blob (a plain link could not send it).
export async function downloadCsv(path, params, fallbackName) {
  const url = path + query({ ...params, format: "csv" });
  const response = await fetch(url, {
    headers: { Authorization: "Bearer " + getToken(), Accept: "text/csv" },
  });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response), path);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const blob = await response.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = match ? match[1] : fallbackName;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
  return a.download;
}

// Every page of a list (`{items, next_cursor}`), up to `limit` items.
export async function listAll(path, params, limit = 1000) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, { ...params, cursor, page_size: params?.page_size || 200 });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < limit);
  return items;
}
