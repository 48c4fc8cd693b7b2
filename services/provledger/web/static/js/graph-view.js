// Draws the lineage left to right: dagre places the nodes by rank (data flows left to right),
// cytoscape draws them on a canvas and reports clicks. Neither library sees anything but ids,
// labels and classes; labels are drawn as text on the canvas, never parsed as markup.

import cytoscape from "../vendor/cytoscape.esm.min.js";
import dagre from "../vendor/dagre.esm.js";
import { edgeKey, nodeKind, nodeLabel } from "./lineage-model.js";

/** Fill colour per artifact kind (and runs); other kinds get the default. */
const KIND_COLOURS = {
  run: "#37474f",
  dataset: "#1e88e5",
  features: "#00897b",
  model: "#8e24aa",
  "model-update": "#ab47bc",
  checkpoint: "#ba68c8",
  metrics: "#f9a825",
  prediction: "#ef6c00",
  input: "#78909c",
  deployment: "#43a047",
};
const BADGE_COLOURS = { verified: "#2e7d32", "server-keys": "#f9a825", failed: "#c62828", pending: "#9e9e9e" };
/** Room dagre keeps per node: the shape with its label under it. */
const LABEL_WIDTH = 130;
const NODE_BOX = { width: LABEL_WIDTH, height: 50 };

function style() {
  const rules = [
    {
      selector: "node",
      style: {
        shape: "round-rectangle", width: 34, height: 22, "background-color": "#607d8b",
        label: "data(label)", color: "#212121", "font-size": 10, "text-wrap": "wrap", "text-max-width": LABEL_WIDTH,
        "text-valign": "bottom", "text-halign": "center", "text-margin-y": 3, "border-width": 0,
        "min-zoomed-font-size": 6,
      },
    },
    { selector: "node.run", style: { shape: "ellipse", width: 26, height: 18 } },
    { selector: "node.cluster", style: { width: 46, height: 30, "border-width": 4, "border-style": "double", "border-color": "#263238" } },
    { selector: "node.root", style: { "border-width": 3, "border-color": "#000" } },
    { selector: "node:selected", style: { "border-width": 4, "border-color": "#ffeb3b" } },
    { selector: ".later", style: { opacity: 0.85, "border-width": 3, "border-style": "dashed", "border-color": "#d81b60" } },
    {
      selector: "edge",
      style: {
        width: 2, "curve-style": "bezier", "target-arrow-shape": "triangle",
        "line-color": BADGE_COLOURS.pending, "target-arrow-color": BADGE_COLOURS.pending,
        label: "data(badgeMark)", "font-size": 12, "text-background-color": "#fff", "text-background-opacity": 1,
      },
    },
    { selector: "edge:selected", style: { width: 4 } },
  ];
  for (const [kind, colour] of Object.entries(KIND_COLOURS)) {
    rules.push({ selector: `node[kind = "${kind}"]`, style: { "background-color": colour } });
  }
  for (const [badge, colour] of Object.entries(BADGE_COLOURS)) {
    rules.push({ selector: `edge[badge = "${badge}"]`, style: { "line-color": colour, "target-arrow-color": colour } });
  }
  // Last, so what was added since the as-of time stands out whatever its badge (the mark stays).
  rules.push({ selector: "edge.later", style: { "line-style": "dashed", "line-color": "#d81b60", "target-arrow-color": "#d81b60" } });
  return rules;
}

const MIN_READABLE_ZOOM = 0.7;
const BADGE_MARKS = { verified: "✓", "server-keys": "≈", failed: "✗", pending: "" };

/**
 * Positions from dagre, ranked left to right.
 * @param {{id: string}[]} nodes @param {{source: string, target: string}[]} edges
 * @returns {Map<string, {x: number, y: number}>}
 */
export function layoutLeftToRight(nodes, edges) {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 10, ranksep: 40, marginx: 20, marginy: 20 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) graph.setNode(node.id, { ...NODE_BOX });
  for (const edge of edges) if (edge.source !== edge.target) graph.setEdge(edge.source, edge.target);
  dagre.layout(graph);
  const positions = new Map();
  for (const node of nodes) {
    const placed = graph.node(node.id);
    positions.set(node.id, { x: placed.x, y: placed.y });
  }
  return positions;
}

/**
 * @param {HTMLElement} container
 * @param {{onSelect: (what: "node" | "edge" | "none", id: string) => void}} handlers
 */
export function createGraphView(container, { onSelect }) {
  const cy = cytoscape({
    container, style: style(), wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 3,
    boxSelectionEnabled: false, autoungrabify: false,
  });
  cy.on("tap", "node", (event) => onSelect("node", event.target.id()));
  cy.on("tap", "edge", (event) => onSelect("edge", event.target.id()));
  cy.on("tap", (event) => {
    if (event.target === cy) onSelect("none", "");
  });

  return {
    /**
     * Draw `drawn` (from lineageModel.drawnGraph), flagging `later` ids and keys.
     * @param {{nodes: any[], edges: any[]}} drawn @param {Set<string>} later @param {string[]} roots
     * @param {Map<string, string>} badges drawn edge id to status
     */
    draw(drawn, later, roots, badges) {
      // User Timing entries (provledger:layout, provledger:draw) let bench_page.py split the time.
      const started = performance.now();
      const positions = layoutLeftToRight(drawn.nodes, drawn.edges);
      performance.measure("provledger:layout", { start: started });
      const laidOut = performance.now();
      cy.batch(() => {
        cy.elements().remove();
        cy.add(drawn.nodes.map((d) => ({
          group: "nodes",
          data: { id: d.id, label: d.cluster ? d.cluster.label : nodeLabel(d.node), kind: d.cluster ? d.cluster.kind : nodeKind(d.node) },
          position: positions.get(d.id),
          classes: [d.node.type === "run" ? "run" : "artifact", d.cluster ? "cluster" : "",
            roots.includes(d.id) ? "root" : "", later.has(d.id) ? "later" : ""].filter(Boolean).join(" "),
        })));
        cy.add(drawn.edges.map((e) => {
          const badge = badges.get(e.id) ?? "pending";
          return {
            group: "edges",
            data: { id: e.id, source: e.source, target: e.target, badge, badgeMark: BADGE_MARKS[badge] ?? "" },
            classes: e.members.every((m) => later.has(edgeKey(m))) ? "later" : "",
          };
        }));
      });
      cy.fit(undefined, 30);
      performance.measure("provledger:draw", { start: laidOut });
      if (cy.zoom() < MIN_READABLE_ZOOM && drawn.nodes.length <= 60) {
        // A long chain fitted whole is too small to read: start readable at the root.
        cy.zoom(MIN_READABLE_ZOOM);
        cy.center(cy.nodes(".root"));
      }
    },
    /** @param {string} id a drawn edge @param {string} status */
    setBadge(id, status) {
      const edge = cy.getElementById(id);
      if (edge.nonempty()) edge.data({ badge: status, badgeMark: BADGE_MARKS[status] ?? "" });
    },
    /** @param {string} id */
    select(id) {
      cy.elements().unselect();
      cy.getElementById(id).select();
    },
    /** @returns {Blob} the whole graph as PNG */
    png() {
      return cy.png({ full: true, scale: 2, bg: "#ffffff", output: "blob", maxWidth: 8000, maxHeight: 8000 });
    },
    cy,
  };
}
