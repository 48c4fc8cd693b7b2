// The side panel: what a node, a cluster or an edge is, read from the API as text.
//
// A node shows its digests, versions and the runs touching it; a run its events with who
// submitted each (the `provledger.submitter` attribute the API seals into events it ingests);
// an edge the event that recorded it, its verification and its bundle to download.

import { api, withQuery } from "./api.js";
import { el, replace } from "./dom.js";
import { nodeText } from "./lineage-model.js";

/** Events of a run whose submitter is looked up (one request each); the rest are listed only. */
const EVENTS_DETAILED = 20;
const SUBMITTER = "provledger.submitter";

function row(label, value) {
  return el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, value ?? "—"));
}

function table(rows) {
  return el("table", { class: "facts" }, el("tbody", {}, ...rows));
}

/** @param {string} text @param {() => void} onClick */
function linkButton(text, onClick) {
  return el("button", { type: "button", class: "link", onclick: onClick }, text);
}

/**
 * @param {HTMLElement} panel
 * @param {{openLineage: (node: string) => void, showNode: (id: string) => void,
 *   expand: (key: string) => void, downloadBundle: (edge: any) => Promise<void>}} actions
 */
export function createDetails(panel, actions) {
  let shown = 0; // a newer selection wins over an older one still loading

  async function runEvents(runId, into, token) {
    try {
      const run = await api.getJSON(withQuery(`/v1/runs/${encodeURIComponent(runId)}`, { limit: 100 }));
      const items = [];
      for (const [index, event] of run.events.entries()) {
        const item = el("li", { dataset: { eventId: event.event_id } },
          `${event.event_type} at ${event.event_time} `, el("code", {}, event.event_id),
          ` (shard ${event.shard}, block ${event.height})`);
        items.push(item);
        if (index < EVENTS_DETAILED) {
          api.getJSON(`/v1/events/${encodeURIComponent(event.event_id)}`).then((full) => {
            if (token !== shown) return;
            const submitter = full.attributes?.[SUBMITTER];
            item.append(el("span", { class: "submitter" },
              submitter ? ` submitted by ${submitter}` : " (not submitted through the API: no submitter)"));
          }).catch(() => undefined);
        }
      }
      replace(into, el("ul", { class: "events" }, ...items),
        run.next_cursor ? el("p", {}, "More events than shown: see /v1/runs/<id>.") : null);
    } catch (error) {
      replace(into, el("p", { class: "error" }, String(error.message)));
    }
  }

  return {
    clear() {
      shown += 1;
      replace(panel, el("p", { class: "hint" }, "Select a node or an edge to see its details."));
    },

    /** @param {any} node @param {any[]} edges the drawn graph's edges touching it */
    node(node, edges) {
      const token = ++shown;
      const touching = edges.filter((e) => e.source === node.id || e.target === node.id);
      const neighbours = touching.map((e) => {
        const other = e.source === node.id ? e.target : e.source;
        const arrow = e.source === node.id ? `${e.relation} →` : `← ${e.relation}`;
        return el("li", {}, `${arrow} `, linkButton(other, () => actions.showNode(other)));
      });
      const head = [el("h2", {}, node.type === "run" ? "Run" : `Artifact (${node.artifact?.kind})`)];
      const open = el("p", {}, linkButton("Open the lineage from here", () => actions.openLineage(node.id)));
      if (node.type === "run") {
        const r = node.run;
        const events = el("div", { class: "loading" }, "Loading events…");
        replace(panel, ...head, table([
          row("node", el("code", {}, node.id)), row("job", `${r.job.namespace} / ${r.job.name}`),
          row("run id", el("code", {}, r.run_id)), row("parent run", r.parent_run_id),
          row("first seen", r.first_seen), row("depth", node.depth),
        ]), open, el("h3", {}, "Artifacts"), el("ul", {}, ...neighbours), el("h3", {}, "Events"), events);
        runEvents(r.run_id, events, token);
        return;
      }
      const a = node.artifact;
      const versions = el("div", { class: "loading" }, "Loading versions…");
      replace(panel, ...head, table([
        row("node", el("code", {}, node.id)), row("namespace", a.namespace), row("name", a.name),
        row("kind", a.kind), row("version", a.version), row("digest", el("code", {}, a.digest)),
        row("first seen", a.first_seen), row("depth", node.depth),
      ]), open, el("h3", {}, "Runs"), el("ul", {}, ...neighbours), el("h3", {}, "Versions of this name"), versions);
      api.getJSON(withQuery("/v1/artifacts", { namespace: a.namespace, name: a.name, limit: 50 })).then((page) => {
        if (token !== shown) return;
        replace(versions, el("ul", {}, ...page.items.map((v) => el("li", {},
          linkButton(`${v.version ?? "(no version)"}`, () => actions.openLineage(v.node)), " ",
          el("code", {}, v.digest), ` first seen ${v.first_seen}`))));
      }).catch((error) => replace(versions, el("p", { class: "error" }, String(error.message))));
    },

    /** @param {{key: string, label: string, members: any[]}} cluster */
    cluster(cluster) {
      shown += 1;
      const list = el("ul", { class: "members" });
      const filter = el("input", { type: "search", placeholder: "Filter by name, digest, run id…", "aria-label": "Filter the cluster" });
      const render = () => {
        const needle = filter.value.trim().toLowerCase();
        const hits = cluster.members.filter((m) => !needle || nodeText(m).includes(needle));
        replace(list, ...hits.slice(0, 200).map((m) => el("li", {}, linkButton(
          m.type === "run" ? `${m.run.job.name} ${m.run.run_id}` : `${m.artifact.name}${m.artifact.version ? `@${m.artifact.version}` : ""}`,
          () => actions.showNode(m.id)))), hits.length > 200 ? el("li", {}, `… ${hits.length - 200} more: refine the filter`) : null);
      };
      filter.addEventListener("input", render);
      replace(panel, el("h2", {}, "Cluster"), el("p", {}, cluster.label),
        el("p", {}, el("button", { type: "button", onclick: () => actions.expand(cluster.key) }, "Expand: draw each one")),
        filter, list);
      render();
    },

    /** @param {any} drawnEdge a drawn edge (members: the lineage edges it stands for) @param {Map<string, any>} verdicts */
    edge(drawnEdge, verdicts) {
      const token = ++shown;
      const items = drawnEdge.members.slice(0, 50).map((edge) => {
        const verdict = verdicts.get(edge.recorded.event_id);
        const event = el("div", { class: "loading" }, "Loading the event…");
        api.getJSON(`/v1/events/${encodeURIComponent(edge.recorded.event_id)}`).then((full) => {
          if (token !== shown) return;
          replace(event, table([
            row("type", full.event_type), row("time", full.event_time), row("job", `${full.job.namespace} / ${full.job.name}`),
            row("submitted by", full.attributes?.[SUBMITTER] ?? "(not through the API)"),
            row("shard / block / leaf", `${full.ledger.shard} / ${full.ledger.height} / ${full.ledger.leaf_index}`),
          ]));
        }).catch((error) => replace(event, el("p", { class: "error" }, String(error.message))));
        return el("li", {},
          table([
            row("relation", `${edge.source} ${edge.relation} ${edge.target}`),
            row("recorded", edge.recorded.recorded_at), row("event", el("code", {}, edge.recorded.event_id)),
            row("check", verdict ? `${verdict.status}${verdict.reason ? `: ${verdict.reason}` : ""}` : "not checked yet"),
          ]),
          event,
          el("button", { type: "button", onclick: () => actions.downloadBundle(edge) }, "Download the evidence bundle"));
      });
      replace(panel, el("h2", {}, "Edge"), el("ol", { class: "edge-events" }, ...items),
        drawnEdge.members.length > 50 ? el("p", {}, `… and ${drawnEdge.members.length - 50} more edges`) : null);
    },
  };
}
