// The lineage graph as the page shows it: pure functions over the /v1/lineage JSON, no DOM.
//
// - as of a time: only edges whose recording block was sealed by then (`recorded.recorded_at`),
//   and the nodes they touch (the roots always), optionally with what came later flagged;
// - clusters: a level with many alike nodes (many versions of one artifact, many runs of one job,
//   many predictions of one serving run) drawn as one searchable node until the user expands it;
// - the impact list (everything downstream of an artifact) as CSV.

/** Alike nodes beyond this many become one cluster. */
export const CLUSTER_AT = 8;

/** @typedef {{relation: string, source: string, target: string,
 *   recorded: {recorded_at: string, event_id: string, evidence: string}}} Edge
 * @typedef {{id: string, type: "artifact" | "run", depth: number, artifact?: any, run?: any}} Node
 * @typedef {{roots: string[], direction: string, depth: number, max_nodes: number,
 *   truncated: boolean, truncation: string | null, nodes: Node[], edges: Edge[]}} Graph
 */

/** @param {Edge} edge @returns {string} one id per (source, relation, target) */
export function edgeKey(edge) {
  return `${edge.source}|${edge.relation}|${edge.target}`;
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i;

/**
 * Microseconds since the epoch of an RFC 3339 time, exact to the microsecond (Date keeps only
 * milliseconds, and two blocks may be sealed within one). NaN for anything else.
 * @param {unknown} text
 */
export function micros(text) {
  const match = typeof text === "string" ? RFC3339.exec(text) : null;
  if (!match) return Number.NaN;
  const seconds = Date.parse(`${match[1]}${match[3].toUpperCase()}`);
  const fraction = Number((match[2] ?? "").padEnd(6, "0").slice(0, 6));
  return seconds * 1000 + fraction;
}

/** @param {Graph} graph @returns {{at: number, label: string}[]} each block seal time of its edges, oldest first */
export function sealTimes(graph) {
  const times = new Map();
  for (const edge of graph.edges) {
    const at = micros(edge.recorded?.recorded_at);
    if (Number.isFinite(at)) times.set(at, edge.recorded.recorded_at);
  }
  return [...times.entries()].sort((a, b) => a[0] - b[0]).map(([at, label]) => ({ at, label }));
}

/**
 * The graph as known at `cut` (microseconds; Infinity: now). With `showLater`, what was
 * recorded after it stays, listed in `later` so the view can highlight it.
 * @param {Graph} graph @param {number} cut @param {boolean} showLater
 * @returns {{nodes: Node[], edges: Edge[], later: Set<string>}} later: ids of nodes and edge keys
 */
export function asOf(graph, cut, showLater) {
  const later = new Set();
  const known = new Set(graph.roots);
  const edges = [];
  for (const edge of graph.edges) {
    const at = micros(edge.recorded?.recorded_at);
    if (cut === Infinity || at <= cut) { // now: every edge, even one whose time does not parse
      known.add(edge.source);
      known.add(edge.target);
      edges.push(edge);
    } else if (showLater) {
      later.add(edgeKey(edge));
      edges.push(edge);
    }
  }
  const nodes = graph.nodes.filter((node) => {
    const atAll = graph.edges.length === 0 || known.has(node.id);
    if (!atAll && showLater) later.add(node.id);
    return atAll || showLater;
  });
  return { nodes, edges, later };
}

/** @param {Node} node @returns {string} what the node is: an artifact's kind, or "run" */
export function nodeKind(node) {
  return node.type === "run" ? "run" : String(node.artifact?.kind ?? "artifact");
}

/** @param {Node} node @returns {string} a short label for the drawing */
export function nodeLabel(node) {
  if (node.type === "run") {
    const job = node.run?.job?.name ?? "run";
    return `${job}\n${String(node.run?.run_id ?? node.id).slice(0, 8)}`;
  }
  const artifact = node.artifact ?? {};
  return artifact.version ? `${artifact.name}\n@${artifact.version}` : String(artifact.name ?? node.id);
}

/** @param {Node} node @returns {string} everything search in a cluster matches against */
export function nodeText(node) {
  const a = node.artifact ?? {};
  const r = node.run ?? {};
  return [node.id, a.namespace, a.name, a.version, a.digest, a.kind, r.run_id, r.job?.namespace, r.job?.name]
    .filter(Boolean)
    .join(" ")
    .toLowerCase();
}

function stem(name) {
  const slash = String(name).lastIndexOf("/");
  return slash > 0 ? String(name).slice(0, slash) : String(name);
}

/**
 * Group alike nodes: first many versions of one artifact (same namespace and name) or many runs
 * of one job, at one depth; then many artifacts of one kind under one name prefix with the same
 * neighbours (a serving run's predictions). Roots and expanded groups stay single.
 * @param {Node[]} nodes @param {Edge[]} edges
 * @param {{roots: string[], expanded: Set<string>, threshold?: number}} options
 * @returns {Map<string, {key: string, label: string, kind: string, members: Node[]}>} by member id
 */
export function clusterOf(nodes, edges, { roots, expanded, threshold = CLUSTER_AT }) {
  const neighbours = new Map();
  for (const edge of edges) {
    for (const [a, b] of [[edge.source, edge.target], [edge.target, edge.source]]) {
      if (!neighbours.has(a)) neighbours.set(a, new Set());
      neighbours.get(a).add(`${edge.relation}:${b}`);
    }
  }
  const single = nodes.filter((node) => !roots.includes(node.id));
  const result = new Map();
  const group = (keyOf, labelOf) => {
    const groups = new Map();
    for (const node of single) {
      if (result.has(node.id)) continue;
      const key = keyOf(node);
      if (key === null) continue;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(node);
    }
    for (const [key, members] of groups) {
      if (members.length < threshold || expanded.has(key)) continue;
      const cluster = { key, label: `${members.length} × ${labelOf(members[0])}`, kind: nodeKind(members[0]), members };
      for (const node of members) result.set(node.id, cluster);
    }
  };
  group(
    (n) => (n.type === "run" ? `runs|${n.run?.job?.namespace}|${n.run?.job?.name}|${n.depth}`
      : `versions|${n.artifact?.namespace}|${n.artifact?.name}|${n.depth}`),
    (n) => (n.type === "run" ? `runs of ${n.run?.job?.name}` : `versions of ${n.artifact?.name}`),
  );
  group(
    (n) => (n.type === "run" ? null
      : `alike|${n.artifact?.kind}|${n.artifact?.namespace}|${stem(n.artifact?.name)}|${n.depth}|` +
        [...(neighbours.get(n.id) ?? [])].sort().join(",")),
    (n) => `${n.artifact?.kind} ${stem(n.artifact?.name)}/…`,
  );
  return result;
}

/**
 * The drawn graph: clustered nodes replaced by their cluster, edges between the same drawn ends
 * and of one relation merged (each keeps the edges it stands for).
 * @param {Node[]} nodes @param {Edge[]} edges @param {ReturnType<typeof clusterOf>} clusters
 */
export function drawnGraph(nodes, edges, clusters) {
  const drawnNodes = new Map();
  for (const node of nodes) {
    const cluster = clusters.get(node.id);
    if (!cluster) drawnNodes.set(node.id, { id: node.id, node, cluster: null });
    else if (!drawnNodes.has(`cluster:${cluster.key}`)) {
      drawnNodes.set(`cluster:${cluster.key}`, { id: `cluster:${cluster.key}`, node: cluster.members[0], cluster });
    }
  }
  const drawnId = (id) => (clusters.has(id) ? `cluster:${clusters.get(id).key}` : id);
  const drawnEdges = new Map();
  for (const edge of edges) {
    const source = drawnId(edge.source);
    const target = drawnId(edge.target);
    if (!drawnNodes.has(source) || !drawnNodes.has(target)) continue;
    const id = `${source}|${edge.relation}|${target}`;
    if (!drawnEdges.has(id)) drawnEdges.set(id, { id, source, target, relation: edge.relation, members: [] });
    drawnEdges.get(id).members.push(edge);
  }
  return { nodes: [...drawnNodes.values()], edges: [...drawnEdges.values()] };
}

const FORMULA = /^[=+\-@\t\r]/;

/** One CSV field (RFC 4180), with spreadsheet formulas defused (a leading ' as OWASP advises). */
export function csvField(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (FORMULA.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const IMPACT_COLUMNS = ["depth", "type", "node", "namespace", "name", "kind", "version", "digest", "job", "run_id"];

/** @param {Graph} graph a downstream graph @returns {string} its nodes but the roots, as CSV */
export function impactCsv(graph) {
  const rows = graph.nodes
    .filter((node) => !graph.roots.includes(node.id))
    .map((node) => {
      const a = node.artifact ?? {};
      const r = node.run ?? {};
      const job = r.job ? `${r.job.namespace}/${r.job.name}` : "";
      return [node.depth, node.type, node.id, a.namespace, a.name, a.kind, a.version, a.digest, job, r.run_id];
    });
  return [IMPACT_COLUMNS, ...rows].map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}
