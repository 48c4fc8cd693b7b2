// The evidence set's files: which bundles, which keys (pinned or the server's, said so), the
// README's commands and the hints. The archive itself is verified with `provledger verify` by
// tests/integration/web/test_evidence_set_archive.py and, from the page, tests/e2e/test_page_evidence_set.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { evidenceSetFiles, keysFile, rfc3339Micros, verifierKeyParts } from "../../services/provledger/web/static/js/evidence-set.js";
import { checkpointText, cosign, newKey, signNote } from "./ledger_view_fixtures.mjs";

const ORIGIN = "ledger.example/ml";

const vkey = (/** @type {string} */ name, type = 0x01) => newKey(name, type).vkey;
const SEALER_KEY = newKey(ORIGIN);
const [A_KEY, B_KEY] = ["a.example/witness", "b.example/witness"].map((name) => newKey(name, 0x04));
const SEALER = SEALER_KEY.vkey;
const ANCHORER = vkey(`${ORIGIN}/anchorer`);
const WITNESS_A = A_KEY.vkey;
const WITNESS_B = B_KEY.vkey;
const SERVER_KEYS = [
  { role: "sealer", name: ORIGIN, key_id: "00", verifier_key: SEALER, valid_from: "2026-12-01T00:00:00Z", valid_until: null },
  { role: "anchorer", name: `${ORIGIN}/anchorer`, key_id: "01", verifier_key: ANCHORER,
    valid_from: "2026-12-01T00:00:00Z", valid_until: null },
];
const IDS = ["0193a0b1-0000-7000-8000-000000000001", "0193a0b1-0000-7000-8000-000000000002"];

const bundle = (/** @type {string} */ id, /** @type {object[]} */ receipts = []) => ({
  format: "provledger-evidence/v1",
  event: { event_id: id, canonical: "AAAA" },
  receipts,
  keys: [SEALER, WITNESS_A, WITNESS_B],
});
const edge = (/** @type {string} */ id, /** @type {string} */ target) =>
  ({ relation: "generated", source: "run:r", target, recorded: { event_id: id, recorded_at: "2026-12-05T10:00:00Z" } });

const files = (/** @type {any} */ set) => Object.fromEntries(set.files.map((/** @type {any} */ f) => [f.name, f.data]));

test("each edge's bundle is in the set once, named after the event the edge names", () => {
  const edges = [edge(IDS[0], "artifact:1"), edge(IDS[0], "artifact:2"), edge(IDS[1], "artifact:3")];
  const set = evidenceSetFiles({ graph: { roots: ["artifact:1"], edges }, bundles: [bundle(IDS[0]), bundle(IDS[1])],
    keys: { server: SERVER_KEYS }, logOrigin: ORIGIN });
  assert.deepEqual(set.included, IDS);
  assert.deepEqual(set.missing, []);
  const byName = files(set);
  assert.deepEqual(Object.keys(byName).sort(),
    ["README.md", `bundles/${IDS[0]}.json`, `bundles/${IDS[1]}.json`, "graph.json", "keys.json", "keys.txt"]);
  assert.deepEqual(JSON.parse(byName[`bundles/${IDS[1]}.json`]), bundle(IDS[1]));
  assert.deepEqual(JSON.parse(byName["graph.json"]), { roots: ["artifact:1"], edges });
});

test("the README gives one exact verify command per bundle and a loop over all", () => {
  const set = evidenceSetFiles({ edges: [edge(IDS[0], "a"), edge(IDS[1], "b")],
    bundles: new Map(IDS.map((id) => [id, bundle(id)])), keys: { server: SERVER_KEYS }, logOrigin: ORIGIN });
  const readme = files(set)["README.md"];
  for (const id of IDS) {
    assert.ok(readme.includes(
      `provledger verify bundles/${id}.json --trusted-keys keys.txt --log-origin 'ledger.example/ml' --event-id ${id}\n`));
  }
  assert.match(readme, /for f in bundles\/\*\.json; do\n {2}provledger verify "\$f" .* --event-id "\$\(basename "\$f" \.json\)"/);
  assert.doesNotMatch(readme, /Not included|Timestamps|Witnesses|Ethereum/);
});

test("a log origin is single-quoted for the shell whatever it holds", () => {
  const set = evidenceSetFiles({ edges: [edge(IDS[0], "a")], bundles: [bundle(IDS[0])],
    keys: { server: SERVER_KEYS }, logOrigin: "x'$(rm)`y`" });
  assert.ok(files(set)["README.md"].includes(`--log-origin 'x'\\''$(rm)\`y\`' --event-id`));
  for (const origin of ["", "two words", "a\nb", undefined]) {
    assert.throws(() => evidenceSetFiles({ edges: [], keys: { server: SERVER_KEYS }, logOrigin: /** @type {any} */ (origin) }),
      /log origin/);
  }
});

test("without a log origin from the page, the one all bundles' checkpoints name is used, said to be the server's", () => {
  const at = (/** @type {string} */ id, /** @type {string} */ origin) => ({ ...bundle(id), checkpoint: `${origin}\n1\nAAAA\n\n` });
  const set = evidenceSetFiles({ edges: [edge(IDS[0], "a"), edge(IDS[1], "b")], keys: { server: SERVER_KEYS },
    bundles: [at(IDS[0], `${ORIGIN}/shard/0`), at(IDS[1], `${ORIGIN}/shard/3`)], logOrigin: "" });
  const readme = files(set)["README.md"];
  assert.ok(readme.includes(`--log-origin 'ledger.example/ml' --event-id ${IDS[0]}`));
  assert.match(readme, /the one the bundles' checkpoints name, i\.e\. the server's word/);
  assert.throws(() => evidenceSetFiles({ edges: [edge(IDS[0], "a"), edge(IDS[1], "b")], keys: { server: SERVER_KEYS },
    bundles: [at(IDS[0], `${ORIGIN}/shard/0`), at(IDS[1], "other.example/shard/0")] }), /needs the ledger's log origin/);
  const given = evidenceSetFiles({ edges: [edge(IDS[0], "a")], keys: { server: SERVER_KEYS },
    bundles: [at(IDS[0], "other.example/shard/0")], logOrigin: ORIGIN });
  assert.doesNotMatch(files(given)["README.md"], /server's word/);
});

test("pinned keys go into keys.txt alone; without them the server's, marked unpinned", () => {
  const pinned = keysFile({ pinned: [SEALER, { vkey: ANCHORER }, WITNESS_A], server: SERVER_KEYS }, ORIGIN);
  assert.equal(pinned.pinned, true);
  assert.deepEqual(pinned.text.split("\n").filter((l) => l && !l.startsWith("#")), [SEALER, ANCHORER]);
  assert.deepEqual(pinned.witnesses, [WITNESS_A]);
  const server = keysFile({ pinned: [WITNESS_A, "not a key"], server: SERVER_KEYS }, ORIGIN);
  assert.equal(server.pinned, false);
  assert.match(server.text, /# UNPINNED: these are the server's own keys/);
  assert.match(server.text, /# sealer key, in use from 2026-12-01T00:00:00Z until now\n/);
  assert.deepEqual(server.text.split("\n").filter((l) => l && !l.startsWith("#")), [SEALER, ANCHORER]);
});

test("no usable key at all stops the set instead of writing a key file that trusts nothing", () => {
  const hostile = [{ ...SERVER_KEYS[0], verifier_key: `${SEALER}\n${ANCHORER}` }, { ...SERVER_KEYS[1], verifier_key: WITNESS_A }];
  assert.throws(() => keysFile({ pinned: [], server: hostile }, ORIGIN), /no verifier keys/);
});

test("server values in key comments cannot start a line of their own", () => {
  const text = keysFile({ server: [{ ...SERVER_KEYS[0], role: "sealer\nevil+00000000+AQ==" }] }, ORIGIN).text;
  assert.deepEqual(text.split("\n").filter((l) => l && !l.startsWith("#")), [SEALER]);
});

test("verifier keys are read strictly", () => {
  assert.deepEqual(verifierKeyParts(SEALER), { vkey: SEALER, name: ORIGIN, type: 1 });
  assert.equal(verifierKeyParts(WITNESS_A)?.type, 4);
  for (const bad of [undefined, 7, "", "a+b+c", `${SEALER}A`, SEALER.replace("+", " "), "n+0011223+AQ=="]) {
    assert.equal(verifierKeyParts(bad), null, String(bad));
  }
});

test("receipts add the timestamp hint and a witness policy naming each cosigner, keys left to the user", () => {
  const text = checkpointText(`${ORIGIN}/shard/0`, 1, Buffer.alloc(32, 3));
  const cosigned = cosign(cosign(signNote(text, SEALER_KEY), text, B_KEY, 1_795_478_400), text, A_KEY, 1_795_478_401);
  const receipts = [{ type: "rfc3161", responses: [] }, { type: "tlog-witness", checkpoint: cosigned, consistency_proof: [] },
    { type: "evm", chain_id: 31337 }];
  const set = evidenceSetFiles({ edges: [edge(IDS[0], "a"), edge(IDS[1], "b")],
    bundles: [bundle(IDS[0], receipts), bundle(IDS[1], [{ type: "tlog-witness", checkpoint: "unreadable" }])],
    keys: { pinned: [SEALER, WITNESS_B], server: SERVER_KEYS }, logOrigin: ORIGIN });
  const byName = files(set);
  assert.match(byName["README.md"], /--tsa-roots tsa-roots\.pem --require rfc3161/);
  assert.match(byName["README.md"], /--witness-policy witness-policy\.txt --require witness/);
  assert.match(byName["README.md"], /`--evm-rpc URL` .* or `--evm-trusted-block N:HASH` [^]*`--require evm`/);
  const policy = byName["witness-policy.txt"];
  assert.ok(policy.includes(`witness a.example/witness REPLACE-WITH-THE-KEY-OF-a.example/witness+${A_KEY.keyId}\n` +
    `witness b.example/witness ${WITNESS_B}\n`), policy);
  assert.match(policy, /group cosigners all a\.example\/witness b\.example\/witness\nquorum cosigners\n$/);
  assert.doesNotMatch(policy, /ledger\.example/); // the log's own signature is no witness
});

test("bundles without a readable cosignature make no witness policy", () => {
  const set = evidenceSetFiles({ edges: [edge(IDS[0], "a")], keys: { server: SERVER_KEYS }, logOrigin: ORIGIN,
    bundles: [bundle(IDS[0], [{ type: "tlog-witness", checkpoint: signNote(checkpointText("o/shard/0", 1, Buffer.alloc(32)), SEALER_KEY) }])] });
  assert.equal(files(set)["witness-policy.txt"], undefined);
  assert.doesNotMatch(files(set)["README.md"], /Witnesses/);
});

test("edges whose bundle the page lacks are listed with the command that fetches them", () => {
  const set = evidenceSetFiles({ edges: [edge(IDS[0], "a"), edge(IDS[1], "b"), edge("../../etc/passwd", "c")],
    bundles: { [IDS[0]]: bundle(IDS[0]), "../../x": bundle(IDS[1]) }, keys: { server: SERVER_KEYS },
    logOrigin: ORIGIN, apiBase: "http://127.0.0.1:8000" });
  assert.deepEqual(set.included, [IDS[0]]);
  assert.deepEqual(set.missing, [IDS[1]]);
  assert.equal(set.invalid, 1);
  const byName = files(set);
  assert.deepEqual(Object.keys(byName).filter((n) => n.startsWith("bundles/")), [`bundles/${IDS[0]}.json`]);
  assert.ok(byName["README.md"].includes(
    `curl -fsS -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:8000/v1/events/${IDS[1]}/evidence' > bundles/${IDS[1]}.json`));
  assert.match(byName["README.md"], /1 edge\(s\) named no valid event id/);
});

test("RFC 3339 times become exact microseconds, anything else none", () => {
  assert.equal(rfc3339Micros("2026-12-05T11:09:06.619284Z"), 1_796_468_946_619_284);
  assert.equal(rfc3339Micros("2026-12-05T11:09:06Z"), 1_796_468_946_000_000);
  assert.equal(rfc3339Micros("2026-12-05T12:09:06.5+01:00"), 1_796_468_946_500_000);
  assert.equal(rfc3339Micros("1970-01-01T00:00:00.000001Z"), 1);
  for (const bad of [null, 5, "", "2026-12-05", "2026-12-05T11:09:06.619284", "2026-13-45T11:09:06Z", "x2026-12-05T11:09:06Z"]) {
    assert.equal(rfc3339Micros(bad), null, String(bad));
  }
});

test("keys.json carries the keys' ranges when there are any, and only then", () => {
  const retired = { ...SERVER_KEYS[0], valid_until: "2026-12-02T00:00:00.000001Z" };
  const server = keysFile({ server: [retired, SERVER_KEYS[1]] }, ORIGIN);
  assert.deepEqual(JSON.parse(/** @type {string} */ (server.json)), { keys: [
    { key: SEALER, valid_from: 1_796_083_200_000_000, valid_until: 1_796_169_600_000_001 },
    { key: ANCHORER, valid_from: 1_796_083_200_000_000, valid_until: null },
  ] });
  assert.equal(keysFile({ server: [{ ...retired, valid_until: "yesterday" }] }, ORIGIN).json, null);
  assert.equal(keysFile({ pinned: [SEALER, { vkey: ANCHORER, validFrom: 0, validUntil: null }] }, ORIGIN).json, null);
  const ranged = keysFile({ pinned: [{ vkey: SEALER, validFrom: 5, validUntil: 9 }, ANCHORER] }, ORIGIN);
  assert.deepEqual(JSON.parse(/** @type {string} */ (ranged.json)).keys,
    [{ key: SEALER, valid_from: 5, valid_until: 9 }, { key: ANCHORER, valid_from: 0, valid_until: null }]);
});
