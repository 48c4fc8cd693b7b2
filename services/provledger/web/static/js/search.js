// Search: artifacts by name or digest, runs by id, jobs by name (prefixes and substrings), through
// GET /v1/search. A job opens as the list of its runs; an artifact or a run opens its lineage.

import { api, withQuery } from "./api.js";
import { el, replace } from "./dom.js";

const LIMIT = 25;

/**
 * @param {HTMLFormElement} form holding an input named q
 * @param {HTMLElement} results
 * @param {(node: string) => void} openLineage
 */
export function mountSearch(form, results, openLineage) {
  const input = /** @type {HTMLInputElement} */ (form.elements.namedItem("q"));
  let asked = 0;

  const open = (node) => el("button", { type: "button", class: "link", onclick: () => openLineage(node) }, "lineage");

  async function jobRuns(hit, into) {
    try {
      const page = await api.getJSON(withQuery("/v1/runs", { job_namespace: hit.namespace, job_name: hit.name, limit: 50 }));
      replace(into, el("ul", {}, ...page.items.map((run) => el("li", {},
        el("code", {}, run.run_id), ` first seen ${run.first_seen} `, open(run.node)))),
      page.next_cursor ? el("p", {}, "more runs than shown") : null);
    } catch (error) {
      replace(into, el("p", { class: "error" }, String(error.message)));
    }
  }

  function item(hit) {
    if (hit.type === "artifact") {
      return el("li", { dataset: { type: "artifact", node: `artifact:${hit.id}` } },
        el("span", { class: `kind kind-${String(hit.kind).replace(/[^a-z0-9-]/gi, "")}` }, hit.kind), " ",
        el("strong", {}, hit.name), ` in ${hit.namespace} `, el("code", { class: "digest" }, String(hit.digest).slice(0, 19) + "…"), " ",
        open(`artifact:${hit.id}`));
    }
    if (hit.type === "run") {
      return el("li", { dataset: { type: "run", node: `run:${hit.id}` } },
        el("span", { class: "kind kind-run" }, "run"), " ", el("code", {}, hit.id), ` of ${hit.namespace} / ${hit.name} `,
        open(`run:${hit.id}`));
    }
    const runs = el("div", { class: "job-runs" });
    return el("li", { dataset: { type: "job" } },
      el("span", { class: "kind kind-job" }, "job"), " ", el("strong", {}, hit.name), ` in ${hit.namespace} `,
      el("button", { type: "button", class: "link", onclick: () => jobRuns(hit, runs) }, "runs"), runs);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const mine = ++asked;
    replace(results, el("p", { class: "loading" }, "Searching…"));
    try {
      const answer = await api.getJSON(withQuery("/v1/search", { q, limit: LIMIT }));
      if (mine !== asked) return;
      const hits = Array.isArray(answer.results) ? answer.results : [];
      replace(results,
        hits.length ? el("ul", { class: "hits" }, ...hits.map(item)) : el("p", {}, `Nothing matches “${q}”.`),
        answer.truncated ? el("p", { class: "hint" }, `More than ${hits.length} match: type more of the name.`) : null);
    } catch (error) {
      if (mine === asked) replace(results, el("p", { class: "error" }, String(error.message)));
    }
  });
}
