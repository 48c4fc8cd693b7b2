// The explorer page's pure lineage model (web/static/js/lineage-model.js): seal times to the
// microsecond, the graph as of a time, clusters of alike nodes, and the impact list's CSV.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  asOf, clusterOf, csvField, drawnGraph, edgeKey, impactCsv, micros, sealTimes,
} from "../../services/provledger/web/static/js/lineage-model.js";

const T1 = "2026-12-05T10:00:00.000001Z";
const T2 = "2026-12-05T10:00:00.000002Z"; // a microsecond later: Date alone cannot tell them apart
const T3 = "2026-12-05T11:00:00+01:00"; // the same instant as 10:00:00Z, written with an offset

const artifact = (id, name, kind = "dataset", version = null, depth = 1) => ({
  id, type: "artifact", depth, artifact: { namespace: "ns", name, kind, version, digest: `sha256:${id}` },
});
const run = (id, job, depth = 1) => ({ id, type: "run", depth, run: { run_id: id, job: { namespace: "ns", name: job } } });
const edge = (source, relation, target, at) => ({
  source, relation, target, recorded: { recorded_at: at, event_id: `${source}-${target}`, evidence: "/e" },
});

test("micros keeps microseconds and reads offsets; anything else is NaN", () => {
  assert.equal(micros(T2) - micros(T1), 1);
  assert.equal(micros(T3), micros("2026-12-05T10:00:00Z"));
  assert.equal(micros("2026-12-05T10:00:00.5Z") - micros("2026-12-05T10:00:00Z"), 500_000);
  for (const bad of ["", "yesterday", "2026-12-05 10:00:00Z", null, 17, "2026-12-05T10:00:00"]) {
    assert.ok(Number.isNaN(micros(bad)), String(bad));
  }
});

test("seal times are distinct and oldest first", () => {
  const graph = { edges: [edge("a", "used", "r", T2), edge("r", "generated", "b", T1), edge("x", "used", "r", T2)] };
  assert.deepEqual(sealTimes(graph).map((t) => t.label), [T1, T2]);
});

test("as of a time hides later edges and the nodes only they touch, or flags them", () => {
  const graph = {
    roots: ["a"],
    nodes: [artifact("a", "raw"), run("r", "train"), artifact("b", "model", "model")],
    edges: [edge("a", "used", "r", T1), edge("r", "generated", "b", T2)],
  };
  const then = asOf(graph, micros(T1), false);
  assert.deepEqual(then.nodes.map((n) => n.id), ["a", "r"]);
  assert.deepEqual(then.edges.map(edgeKey), ["a|used|r"]);
  const flagged = asOf(graph, micros(T1), true);
  assert.equal(flagged.nodes.length, 3);
  assert.deepEqual([...flagged.later].sort(), ["b", "r|generated|b"]);
  assert.equal(asOf(graph, Infinity, false).edges.length, 2);
  const unreadable = { ...graph, edges: [...graph.edges, edge("b", "used", "r", "not a time")] };
  assert.equal(asOf(unreadable, Infinity, false).edges.length, 3, "now shows every edge");
  assert.equal(asOf(unreadable, micros(T2), false).edges.length, 2, "an unreadable time is never before a cut");
});

test("many alike nodes become one cluster; roots, small groups and expanded ones stay single", () => {
  const predictions = Array.from({ length: 9 }, (_, i) => artifact(`p${i}`, `prediction/${i}`, "prediction", null, 2));
  const versions = Array.from({ length: 8 }, (_, i) => artifact(`v${i}`, "features", "features", String(i)));
  const nodes = [run("serve", "serving"), ...predictions, ...versions, artifact("few1", "models/a", "model"),
    artifact("few2", "models/b", "model")];
  const edges = [...predictions.map((p) => edge("serve", "generated", p.id, T1)),
    ...versions.map((v) => edge(v.id, "used", "serve", T1))];
  const clusters = clusterOf(nodes, edges, { roots: ["v0"], expanded: new Set() });
  assert.equal(clusters.get("p0").members.length, 9);
  assert.equal(clusters.get("p0").kind, "prediction");
  assert.ok(!clusters.has("v0"), "a root never hides in a cluster");
  assert.ok(!clusters.has("v1"), "seven other versions are too few");
  assert.ok(!clusters.has("few1") && !clusters.has("serve"));

  const drawn = drawnGraph(nodes, edges, clusters);
  assert.equal(drawn.nodes.filter((n) => n.cluster).length, 1);
  const merged = drawn.edges.find((e) => e.target.startsWith("cluster:"));
  assert.equal(merged.members.length, 9);

  const expanded = clusterOf(nodes, edges, { roots: [], expanded: new Set([clusters.get("p0").key]) });
  assert.ok(!expanded.has("p0"));
  assert.equal(expanded.get("v0").members.length, 8, "eight versions of one name are a cluster");
});

test("CSV fields are quoted as RFC 4180 says and formulas are defused", () => {
  assert.equal(csvField("plain"), "plain");
  assert.equal(csvField('a,"b"'), '"a,""b"""');
  assert.equal(csvField("line\nbreak"), '"line\nbreak"');
  assert.equal(csvField("=HYPERLINK(\"http://evil\")"), "\"'=HYPERLINK(\"\"http://evil\"\")\"");
  for (const lead of ["+", "-", "@", "\t"]) assert.equal(csvField(`${lead}1`), `'${lead}1`);
  assert.equal(csvField(null), "");
});

test("the impact list lists every node but the roots", () => {
  const graph = {
    roots: ["a"],
    nodes: [artifact("a", "raw", "dataset", null, 0), run("r", "train"), artifact("b", "model", "model", "2", 2)],
    edges: [],
  };
  const lines = impactCsv(graph).trimEnd().split("\r\n");
  assert.equal(lines[0], "depth,type,node,namespace,name,kind,version,digest,job,run_id");
  assert.deepEqual(lines.slice(1), ["1,run,r,,,,,,ns/train,r", "2,artifact,b,ns,model,model,2,sha256:b,,"]);
});
