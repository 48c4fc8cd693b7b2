// The page's one way to the API: same-origin fetches of the /v1 JSON, with the user's token.
//
// Reads are public under `make run` (PROVLEDGER_PUBLIC_READS=true); otherwise the user types a
// read token into the page. It is kept in sessionStorage (this tab only, gone when it closes),
// sent only as `Authorization: Bearer`, and never written into the page or a URL.

const TOKEN_KEY = "provledger.token";

/** An answer that was not 2xx, with the API's RFC 9457 problem detail when it sent one. */
export class ApiError extends Error {
  /** @param {number} status @param {string} detail @param {string} path */
  constructor(status, detail, path) {
    super(`${path}: ${status} ${detail}`);
    this.status = status;
    this.detail = detail;
    this.path = path;
  }
}

/** @returns {string} the token of this tab, or "" */
export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** Keep `token` for this tab ("" forgets it). @param {string} token */
export function saveToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Only paths of this API: an absolute path that resolves to this origin. A path from the server
 * (an edge's `evidence`) could otherwise name another host: `//evil`, or `/\evil`, which URL
 * parsing reads as `//evil` (the Content-Security-Policy's connect-src would stop it too).
 */
function checkedPath(path) {
  const ok = typeof path === "string" && path.startsWith("/") && !path.includes("\\")
    && new URL(path, location.origin).origin === location.origin && !path.startsWith("//");
  if (!ok) throw new ApiError(0, "not a path of this API", String(path).slice(0, 200));
  return path;
}

/** @param {string} path @param {string} accept @returns {Promise<Response>} */
async function get(path, accept) {
  const headers = { Accept: accept };
  const token = savedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(checkedPath(path), { headers, credentials: "omit", cache: "no-cache" });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = await response.json();
      if (typeof problem?.detail === "string") detail = problem.detail;
    } catch {
      // not a problem document: the status text says enough
    }
    if (response.status === 401) detail += " (enter a read token at the top of the page)";
    throw new ApiError(response.status, detail, path);
  }
  return response;
}

/** What ledger-view.js and evidence-set.js take: `{getJSON, getText}` over the API. */
export const api = {
  /** @param {string} path @returns {Promise<any>} */
  async getJSON(path) {
    return (await get(path, "application/json")).json();
  },
  /** @param {string} path @returns {Promise<string>} */
  async getText(path) {
    return (await get(path, "text/plain")).text();
  },
};

/** `/path?k=v...` with each value percent-encoded. @param {string} path @param {Record<string, unknown>} params */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
