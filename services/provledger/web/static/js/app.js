// The explorer page: search, the lineage graph with its as-of slider and clusters, the check of
// every drawn edge, details, exports and the ledger view. Everything it shows comes from the
// /v1 JSON and is written as text (dom.js); trust comes from the keys the user pins (trust.js).

import { api, ApiError, saveToken, savedToken, withQuery } from "./api.js";
import { createDetails } from "./details.js";
import { byId, el, replace, saveBlob } from "./dom.js";
import { createGraphView } from "./graph-view.js";
import { asOf, clusterOf, drawnGraph, edgeKey, impactCsv, nodeKind, sealTimes } from "./lineage-model.js";
import { mountSearch } from "./search.js";
import { EdgeChecks, forgetPinnedKeys, importKeyFile, pinnedKeys, pinnedOrigin, pinOrigin, serverOrigin } from "./trust.js";

const LABELS = { verified: "verified", "server-keys": "server's keys only", failed: "failed", pending: "checking…", collapsed: "in a cluster: expand to check" };
const NODE_PATTERN = /^(artifact:[1-9][0-9]{0,18}|run:[0-9a-f-]{36})$/;

const state = {
  graph: null, query: null, cutIndex: Infinity, showLater: false, expanded: new Set(),
  drawn: { nodes: [], edges: [] }, drawnById: new Map(), byId: new Map(), checks: null, serverKeys: [], suggestedOrigin: "",
  verdicts: new Map(), selected: null,
};

const status = byId("status");
const say = (text, kind = "info") => replace(status, el("span", { class: kind }, text));

const view = createGraphView(byId("graph"), { onSelect: select });
const details = createDetails(byId("details"), {
  openLineage: (node) => openLineage(node),
  showNode: (id) => showNode(id),
  expand: (key) => { state.expanded.add(key); render(); },
  downloadBundle: async (edge) => {
    const [{ downloadBundle }, bundle] = await Promise.all([import("./evidence-set.js"), trustChecks().bundle(edge.recorded.event_id, edge.recorded.evidence)]);
    downloadBundle(bundle);
  },
});

function trustChecks() {
  state.checks ??= new EdgeChecks({ serverKeys: state.serverKeys, suggestedOrigin: state.suggestedOrigin });
  return state.checks;
}

/** Load the graph around `node` with the form's direction, depth and node cap. */
async function openLineage(node) {
  if (!NODE_PATTERN.test(node)) return say(`not a node id: ${node}`, "error");
  const form = /** @type {HTMLFormElement} */ (byId("lineage-form"));
  form.elements.namedItem("node").value = node;
  const query = {
    node,
    direction: form.elements.namedItem("direction").value,
    depth: form.elements.namedItem("depth").value,
    max_nodes: form.elements.namedItem("max_nodes").value,
  };
  say(`Loading the lineage of ${node}…`);
  try {
    const graph = await api.getJSON(withQuery("/v1/lineage", query));
    state.graph = graph;
    state.query = query;
    state.cutIndex = Infinity;
    state.expanded = new Set();
    state.selected = null;
    history.replaceState(null, "", `#${new URLSearchParams(query)}`);
    details.clear();
    render();
    say(`${graph.nodes.length} nodes, ${graph.edges.length} edges ${query.direction} of ${node}`);
  } catch (error) {
    say(String(error.message), "error");
  }
}

function select(what, id) {
  state.selected = what === "none" ? null : { what, id };
  if (what === "none") return details.clear();
  if (what === "edge") {
    const edge = state.drawn.edges.find((e) => e.id === id);
    if (edge) details.edge(edge, state.verdicts);
    return;
  }
  const drawn = state.drawnById.get(id);
  if (!drawn) return;
  if (drawn.cluster) details.cluster(drawn.cluster);
  else details.node(drawn.node, state.graph.edges);
  byId("impact-csv").disabled = drawn.cluster !== null || drawn.node.type !== "artifact";
}

/** Details of any loaded node, drawn or inside a cluster. */
function showNode(id) {
  const node = state.byId.get(id);
  if (!node) return openLineage(id);
  view.select(id);
  state.selected = { what: "node", id };
  details.node(node, state.graph.edges);
  byId("impact-csv").disabled = node.type !== "artifact";
}

function render() {
  const graph = state.graph;
  if (!graph) return;
  const started = performance.now();
  state.byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const times = sealTimes(graph);
  const slider = /** @type {HTMLInputElement} */ (byId("as-of"));
  slider.max = String(times.length);
  slider.disabled = times.length === 0;
  const index = Math.min(state.cutIndex, times.length);
  slider.value = String(index);
  replace(byId("seal-times"), ...times.map((_, i) => el("option", { value: i })), el("option", { value: times.length }));
  const cut = index >= times.length ? Infinity : times[index].at;
  replace(byId("as-of-label"), index >= times.length ? "now: everything sealed" : `as sealed by ${times[index].label}`);

  const banner = byId("banner");
  banner.hidden = !graph.truncated;
  replace(banner, graph.truncated ? `The server cut this graph at ${graph.max_nodes} nodes: ${graph.truncation ?? "more lie within the depth"}. Raise the node cap or lower the depth to see the rest.` : "");

  const { nodes, edges, later } = asOf(graph, cut, state.showLater);
  const clusters = clusterOf(nodes, edges, { roots: graph.roots, expanded: state.expanded });
  state.drawn = drawnGraph(nodes, edges, clusters);
  state.drawnById = new Map(state.drawn.nodes.map((d) => [d.id, d]));
  const badges = new Map(state.drawn.edges.map((e) => [e.id, badgeOf(e)]));
  view.draw(state.drawn, later, graph.roots, badges);
  renderTables(later, badges);
  performance.measure("provledger:render", { start: started });
  checkDrawnEdges(started);
}

function badgeOf(drawnEdge) {
  if (drawnEdge.members.length !== 1) return "collapsed";
  return state.verdicts.get(drawnEdge.members[0].recorded.event_id)?.status ?? "pending";
}

function labelOf(id) {
  const drawn = state.drawnById.get(id);
  if (drawn?.cluster) return drawn.cluster.label;
  const node = state.byId.get(id);
  if (!node) return id;
  return node.type === "run" ? `run ${node.run.job.name} ${node.run.run_id.slice(0, 8)}` : `${node.artifact.name}${node.artifact.version ? `@${node.artifact.version}` : ""}`;
}

function renderTables(later, badges) {
  replace(byId("node-rows"), ...state.drawn.nodes.map((d) => el("tr", {
    dataset: { node: d.id, kind: d.cluster ? d.cluster.kind : nodeKind(d.node), later: later.has(d.id) ? "yes" : "no" },
  },
  el("td", {}, el("button", { type: "button", class: "link", onclick: () => { view.select(d.id); select("node", d.id); } }, labelOf(d.id))),
  el("td", {}, d.cluster ? `cluster of ${d.cluster.members.length}` : nodeKind(d.node)),
  el("td", {}, d.cluster ? "" : (d.node.artifact?.namespace ?? d.node.run?.job?.namespace ?? "")),
  el("td", {}, el("code", {}, d.cluster ? "" : (d.node.artifact?.digest ?? d.node.run?.run_id ?? ""))))));
  replace(byId("edge-rows"), ...state.drawn.edges.map((e) => {
    const badge = badges.get(e.id);
    const verdict = e.members.length === 1 ? state.verdicts.get(e.members[0].recorded.event_id) : undefined;
    return el("tr", { dataset: { edge: e.id, status: badge, later: e.members.every((m) => later.has(edgeKey(m))) ? "yes" : "no" } },
      el("td", {}, labelOf(e.source)), el("td", {}, e.relation), el("td", {}, labelOf(e.target)),
      el("td", {}, e.members.length === 1 ? e.members[0].recorded.recorded_at : `${e.members.length} edges`),
      el("td", { class: `badge badge-${badge}` },
        el("button", { type: "button", class: "link", onclick: () => { view.select(e.id); select("edge", e.id); } }, LABELS[badge] ?? badge)),
      el("td", { class: "reason" }, verdict?.status === "failed" ? String(verdict.reason ?? "") : ""));
  }));
}

/** Check each drawn edge's evidence (one bundle per event, results kept per event). */
/** @param {number} started when this view's render began (for the provledger:checked timing) */
function checkDrawnEdges(started) {
  const checks = trustChecks();
  const rounds = [];
  for (const drawnEdge of state.drawn.edges) {
    if (drawnEdge.members.length !== 1) continue;
    const edge = drawnEdge.members[0];
    if (state.verdicts.has(edge.recorded.event_id)) continue;
    rounds.push(checks.check(edge).then((verdict) => {
      if (checks !== state.checks) return; // the keys changed meanwhile: a new round checks again
      state.verdicts.set(edge.recorded.event_id, verdict);
      updateBadge(drawnEdge.id, edge.recorded.event_id);
    }));
  }
  if (rounds.length) Promise.all(rounds).then(() => performance.measure("provledger:checked", { start: started }));
}

function updateBadge(drawnId, eventId) {
  const verdict = state.verdicts.get(eventId);
  view.setBadge(drawnId, verdict.status);
  const row = document.querySelector(`#edge-rows tr[data-edge="${CSS.escape(drawnId)}"]`);
  if (!row) return;
  row.dataset.status = verdict.status;
  const [badgeCell, reasonCell] = [row.children[4], row.children[5]];
  badgeCell.className = `badge badge-${verdict.status}`;
  badgeCell.firstChild.textContent = LABELS[verdict.status] ?? verdict.status;
  reasonCell.textContent = verdict.status === "failed" ? String(verdict.reason ?? "") : "";
  if (state.selected?.what === "edge" && state.selected.id === drawnId) select("edge", drawnId);
}

function recheckWithNewKeys() {
  state.checks = null;
  state.verdicts = new Map();
  showKeys();
  render();
}

function showKeys() {
  const keys = pinnedKeys();
  replace(byId("keys-status"), keys.length
    ? `${keys.length} pinned key${keys.length > 1 ? "s" : ""}: ${keys.map((k) => k.vkey.split("+")[0]).join(", ")}`
    : "No pinned keys: edges are checked against the server's own keys only (import your key file to verify).");
  const origin = /** @type {HTMLInputElement} */ (byId("origin"));
  origin.value = pinnedOrigin();
  origin.placeholder = state.suggestedOrigin ? `the server says: ${state.suggestedOrigin}` : "log origin";
}

function visibleSingleEdges() {
  return state.drawn.edges.filter((e) => e.members.length === 1).map((e) => e.members[0]);
}

async function downloadEvidence() {
  if (!state.graph) return say("Open a lineage first.", "error");
  const edges = visibleSingleEdges();
  say(`Fetching ${edges.length} bundles for the evidence set…`);
  try {
    const checks = trustChecks();
    const bundles = new Map();
    await Promise.all(edges.map(async (edge) => bundles.set(edge.recorded.event_id, await checks.bundle(edge.recorded.event_id, edge.recorded.evidence))));
    const { downloadEvidenceSet } = await import("./evidence-set.js");
    await downloadEvidenceSet({
      graph: state.graph, edges, bundles, keys: { pinned: pinnedKeys(), server: state.serverKeys },
      logOrigin: checks.logOrigin, apiBase: location.origin, getJSON: api.getJSON,
    });
    say(`Evidence set of ${edges.length} edges downloaded.`);
  } catch (error) {
    say(`The evidence set could not be made: ${error.message}`, "error");
  }
}

async function downloadImpact() {
  const node = state.selected?.what === "node" ? state.byId.get(state.selected.id) : null;
  if (!node || node.type !== "artifact") return say("Select an artifact for its impact list.", "error");
  try {
    const graph = await api.getJSON(withQuery("/v1/lineage", { node: node.id, direction: "downstream", depth: 20, max_nodes: 5000 }));
    const name = `impact-${node.artifact.name.replace(/[^A-Za-z0-9._-]+/g, "_")}${graph.truncated ? "-TRUNCATED" : ""}.csv`;
    saveBlob(new Blob([impactCsv(graph)], { type: "text/csv" }), name);
    say(graph.truncated ? `Impact list cut by the server at ${graph.max_nodes} nodes: ${graph.truncation}` : `Impact list: ${graph.nodes.length - 1} nodes downstream.`);
  } catch (error) {
    say(String(error.message), "error");
  }
}

async function loadServer() {
  try {
    const items = [];
    let path = "/v1/keys?limit=1000";
    for (let page = 0; page < 5 && path; page += 1) {
      const answer = await api.getJSON(path);
      items.push(...answer.items);
      path = answer.next_cursor ? withQuery("/v1/keys", { limit: 1000, cursor: answer.next_cursor }) : null;
    }
    state.serverKeys = items;
    state.suggestedOrigin = await serverOrigin().catch(() => "");
  } catch (error) {
    say(error instanceof ApiError && error.status === 401 ? "This API needs a read token: enter one above." : String(error.message), "error");
  }
  state.checks = null;
  showKeys();
}

function wire() {
  const token = /** @type {HTMLFormElement} */ (byId("token-form"));
  token.elements.namedItem("token").value = savedToken();
  token.addEventListener("submit", async (event) => {
    event.preventDefault();
    saveToken(token.elements.namedItem("token").value);
    state.verdicts = new Map();
    await loadServer();
    if (state.query) openLineage(state.query.node);
  });

  mountSearch(/** @type {HTMLFormElement} */ (byId("search-form")), byId("search-results"), openLineage);

  byId("lineage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    openLineage(/** @type {HTMLFormElement} */ (event.target).elements.namedItem("node").value.trim());
  });
  byId("as-of").addEventListener("input", (event) => {
    state.cutIndex = Number(/** @type {HTMLInputElement} */ (event.target).value);
    render();
  });
  byId("show-later").addEventListener("change", (event) => {
    state.showLater = /** @type {HTMLInputElement} */ (event.target).checked;
    render();
  });
  byId("key-file").addEventListener("change", async (event) => {
    const file = /** @type {HTMLInputElement} */ (event.target).files?.[0];
    if (!file) return;
    try {
      const keys = await importKeyFile(await file.text());
      say(`Pinned ${keys.length} keys from ${file.name}.`);
      recheckWithNewKeys();
    } catch (error) {
      say(`${file.name} holds no usable verifier keys: ${error.message}`, "error");
    }
  });
  byId("forget-keys").addEventListener("click", () => { forgetPinnedKeys(); recheckWithNewKeys(); });
  byId("origin").addEventListener("change", (event) => { pinOrigin(/** @type {HTMLInputElement} */ (event.target).value); recheckWithNewKeys(); });
  byId("png").addEventListener("click", () => (state.graph ? saveBlob(view.png(), "lineage.png") : say("Open a lineage first.", "error")));
  byId("impact-csv").addEventListener("click", downloadImpact);
  byId("evidence-set").addEventListener("click", downloadEvidence);
}

async function mountLedger() {
  try {
    const { mountLedgerView } = await import("./ledger-view.js");
    await mountLedgerView(byId("ledger"), api);
  } catch (error) {
    replace(byId("ledger"), el("p", { class: "error" }, `The ledger view could not load: ${error.message}`));
  }
}

async function start() {
  wire();
  await loadServer();
  mountLedger();
  const fromHash = new URLSearchParams(location.hash.slice(1));
  const form = /** @type {HTMLFormElement} */ (byId("lineage-form"));
  const direction = fromHash.get("direction") ?? "";
  if (["upstream", "downstream", "both"].includes(direction)) form.elements.namedItem("direction").value = direction;
  for (const name of ["depth", "max_nodes"]) {
    const value = fromHash.get(name) ?? "";
    if (/^\d{1,4}$/.test(value)) form.elements.namedItem(name).value = value;
  }
  const node = fromHash.get("node");
  if (node && NODE_PATTERN.test(node)) openLineage(node);
}

start();
