// Verdicts of the page's verifier on real bundles built in Node: whose keys vouched (pinned,
// the server's own, nobody), key roles and ranges, the per-block cache, the consistency check of
// the ledger view, and hostile bundles, each a failed verdict with a reason, never an exception.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createVerifier } from "../../services/provledger/web/static/js/verify/index.js";
import { ORIGIN, T0, bundle, checkpointNote, newKey, sealShard, serverKey, statementReceipt, witnessReceipt } from "./verify_fixtures.mjs";

const SEALER = newKey(ORIGIN);
const ANCHORER = newKey(`${ORIGIN}/anchorer`);
const WITNESS = newKey("w.example/witness", 0x04);
const SHARD = sealShard(SEALER, [3, 5, 2]);
const ANCHORED = bundle(SHARD, 4, [statementReceipt(SHARD, ANCHORER, 1, 2), witnessReceipt(SHARD, 1, 2, [WITNESS])]);
const SERVER_KEYS = [serverKey(SEALER, "sealer"), serverKey(ANCHORER, "anchorer")];
const POLICY = `witness w ${WITNESS.vkey}\nquorum w\n`;

const verifier = (/** @type {any} */ trust) => createVerifier({ logOrigin: ORIGIN, serverKeys: [], ...trust });

test("pinned keys give 'verified'; the server's keys alone give 'server-keys'; the checks are provledger verify's", async () => {
  const pinned = await verifier({ pinnedKeys: [SEALER.vkey, ANCHORER.vkey], witnessPolicy: POLICY }).verifyBundle(ANCHORED);
  assert.equal(pinned.status, "verified", pinned.reason ?? "");
  assert.deepEqual([pinned.eventId, pinned.shard, pinned.height, pinned.trust], ["0193a0b1-0000-7000-8000-000000000004", 2, 1, "pinned"]);
  assert.deepEqual(pinned.checks.map((c) => [c.name, c.ok]), [
    ["bundle", true], ["leaf-in-block", true], ["inclusion", true], ["header-signature", true], ["key-time", true],
    ["log-id", true], ["checkpoint", true], ["event-id", true], ["receipt[0]:rfc3161", null], ["receipt[1]:tlog-witness", true],
  ]);
  assert.deepEqual(pinned.receipts.map((r) => [r.type, r.status]), [["rfc3161", "unchecked"], ["tlog-witness", "verified"]]);
  assert.match(pinned.receipts[0].detail, /unchecked here: checked by `provledger verify --tsa-roots`/);
  assert.equal(pinned.event?.outputs[0].name, "resnet-4");

  const served = await verifier({ serverKeys: SERVER_KEYS }).verifyBundle(ANCHORED);
  assert.deepEqual([served.status, served.trust, served.reason], ["server-keys", "server-keys", null]);
  assert.match(served.receipts[1].detail, /cosignature lines by w\.example\/witness \(id [0-9a-f]{8}\), unchecked: no witness policy given/);
  // The sealer pinned, the anchorer only served: the statement is vouched for by the server alone.
  const half = await verifier({ pinnedKeys: [SEALER.vkey], serverKeys: SERVER_KEYS }).verifyBundle(ANCHORED);
  assert.equal(half.status, "server-keys");
  assert.equal((await verifier({ pinnedKeys: [SEALER.vkey] }).verifyBundle(bundle(SHARD, 0))).status, "verified");
});

test("a failed verdict names the first failing check, also when the server's keys are tried too", async () => {
  const tampered = structuredClone(ANCHORED);
  tampered.block.signature = Buffer.alloc(64, 1).toString("base64");
  for (const trust of [{ pinnedKeys: [SEALER.vkey, ANCHORER.vkey] }, { pinnedKeys: [SEALER.vkey], serverKeys: SERVER_KEYS }]) {
    const verdict = await verifier(trust).verifyBundle(tampered);
    assert.equal(verdict.status, "failed");
    assert.match(verdict.reason ?? "", /^header-signature: block 2\/1: signature does not verify under /);
  }
  const stranger = await verifier({ pinnedKeys: [newKey(ORIGIN).vkey, ANCHORER.vkey] }).verifyBundle(ANCHORED);
  assert.match(stranger.reason ?? "", /^header-signature: block 2\/1: no trusted key has key id /);
  const elsewhere = await createVerifier({ pinnedKeys: [SEALER.vkey, ANCHORER.vkey], logOrigin: "other.example/log" }).verifyBundle(ANCHORED);
  assert.match(elsewhere.reason ?? "", /^log-id: header log_id [0-9a-f]{32} is not [0-9a-f]{32}, the log_id of "other\.example\/log"/);
  const trusted = verifier({ pinnedKeys: [SEALER.vkey, ANCHORER.vkey] });
  assert.equal((await trusted.verifyBundle(ANCHORED, { eventId: ANCHORED.event.event_id.toUpperCase() })).status, "verified");
  const other = await trusted.verifyBundle(ANCHORED, { eventId: "0193a0b1-0000-7000-8000-000000000009" });
  assert.match(other.reason ?? "", /^expected-event: the bundle names event "0193a0b1-0000-7000-8000-000000000004", not the expected event .*9$/);
  const noUuid = await trusted.verifyBundle(ANCHORED, { eventId: "edge-1" });
  assert.match(noUuid.reason ?? "", /^expected-event: the expected event id "edge-1" is not a UUID/);
  const noAnchorer = await verifier({ pinnedKeys: [SEALER.vkey] }).verifyBundle(ANCHORED);
  assert.match(noAnchorer.reason ?? "", /^receipt\[0\]:rfc3161: no trusted key other than the block signer's may sign statements/);
  const sealerSigned = bundle(SHARD, 4, [statementReceipt(SHARD, SEALER, 1, 2)]);
  const forged = await verifier({ pinnedKeys: [SEALER.vkey, ANCHORER.vkey] }).verifyBundle(sealerSigned);
  assert.match(forged.reason ?? "", /^receipt\[0\]:rfc3161: statement: note has no signature from a trusted key/);
});

test("server keys count only for their role and within their range", async () => {
  // An anchorer key never signs blocks, a sealer key never signs statements.
  const swapped = [serverKey(SEALER, "anchorer"), serverKey(ANCHORER, "sealer")];
  const roles = await verifier({ serverKeys: swapped }).verifyBundle(ANCHORED);
  assert.match(roles.reason ?? "", /^header-signature: block 2\/1: no trusted key has key id/);
  // Block 1 was sealed at T0 + 2 s; a key that took over later did not sign it.
  const later = new Date(Number((T0 + 3_000_000n) / 1000n)).toISOString();
  const notYet = await verifier({ serverKeys: [serverKey(SEALER, "sealer", later), SERVER_KEYS[1]] }).verifyBundle(ANCHORED);
  assert.match(notYet.reason ?? "", /^header-signature: block 2\/1: key id [0-9a-f]{8} is not valid at /);
  // A retired key's block needs an attested time before its end: here, a witness quorum's.
  const retired = [{ key: SEALER.vkey, valid_from: 0, valid_until: Number(T0) + 2_500_000 }, ANCHORER.vkey];
  const unattested = await verifier({ pinnedKeys: retired }).verifyBundle(ANCHORED);
  assert.match(unattested.reason ?? "", /^key-time: key "ledger\.example\/ml" \(id [0-9a-f]{8}\) was retired at /);
  const early = bundle(SHARD, 4, [witnessReceipt(SHARD, 1, 2, [WITNESS], Number(T0 / 1_000_000n) + 1)]);
  const attested = await verifier({ pinnedKeys: retired, witnessPolicy: POLICY }).verifyBundle(early);
  assert.equal(attested.status, "verified", attested.reason ?? "");
  assert.match(attested.checks[4].detail, /a witness quorum attests the block existed at/);
  const late = await verifier({ pinnedKeys: retired, witnessPolicy: POLICY }).verifyBundle(ANCHORED);
  assert.match(late.reason ?? "", /^key-time: /);
});

test("block-level checks run once per block: 100 bundles of 10 blocks cost 20 signature checks", async () => {
  const shard = sealShard(SEALER, Array(10).fill(10), 3);
  const bundles = Array.from({ length: 100 }, (_, i) => bundle(shard, i));
  const subtle = globalThis.crypto.subtle;
  const real = subtle.verify.bind(subtle);
  let calls = 0;
  Object.defineProperty(subtle, "verify", { configurable: true, value: (/** @type {any[]} */ ...args) => ((calls += 1), real(...args)) });
  try {
    const v = verifier({ pinnedKeys: [SEALER.vkey] });
    const verdicts = await Promise.all(bundles.map((b) => v.verifyBundle(b)));
    assert.deepEqual(new Set(verdicts.map((x) => x.status)), new Set(["verified"]));
    assert.equal(v.cachedBlocks, 10);
    assert.equal(calls, 20); // per block: the header signature and the shard checkpoint's
    const tampered = structuredClone(bundles[0]);
    tampered.block.signature = Buffer.alloc(64, 2).toString("base64");
    assert.equal((await v.verifyBundle(tampered)).status, "failed", "a cached pass is never served to another signature");
    assert.equal((await v.verifyBundle(bundles[0])).status, "verified");
  } finally {
    delete (/** @type {any} */ (subtle)).verify;
  }
});

test("verifyConsistency: a log that only grew passes, under the pinned keys or else the server's", async () => {
  const [old, now] = [checkpointNote(SHARD, 0), checkpointNote(SHARD, 2)];
  const { consistencyProof, leafHash } = await import("./ledger_view_fixtures.mjs");
  const proof = consistencyProof(3, SHARD.events.map((e) => leafHash(e)));
  assert.deepEqual(await verifier({ pinnedKeys: [SEALER.vkey] }).verifyConsistency(old, now, proof), { ok: true, reason: null, trust: "pinned" });
  assert.deepEqual(await verifier({ serverKeys: SERVER_KEYS }).verifyConsistency(now, now, []), { ok: true, reason: null, trust: "server-keys" });
  const checks = [
    [old, now, proof.slice(1), /too short|gives/], [now, old, [], /larger/], [old, now, [...proof, proof[0]], /too long|gives/],
    [old, checkpointNote(sealShard(SEALER, [3, 8]), 1), proof, /too short|too long|gives/],
    [old, checkpointNote(SHARD, 2, newKey(ORIGIN)), proof, /current checkpoint: note has no signature from a trusted key/],
    [old, checkpointNote(sealShard(SEALER, [3, 5, 2], 4), 2), proof, /two logs/], [old, now, "nope", /not a list/],
    [old, now, Array(65).fill(proof[0]), /at most 64/], [null, now, proof, /remembered checkpoint: the note is missing/],
  ];
  for (const [a, b, p, reason] of checks) {
    const result = await verifier({ pinnedKeys: [SEALER.vkey] }).verifyConsistency(a, b, p);
    assert.equal(result.ok, false);
    assert.match(result.reason ?? "", reason);
  }
  const other = await createVerifier({ pinnedKeys: [SEALER.vkey], logOrigin: "other.example/log" }).verifyConsistency(now, now, []);
  assert.match(other.reason ?? "", /is not a shard of "other\.example\/log"/);
});

test("hostile bundles are failed verdicts with a reason, never an exception, however large", async () => {
  const v = verifier({ pinnedKeys: [SEALER.vkey, ANCHORER.vkey], witnessPolicy: POLICY });
  const huge = Array(200_000).fill("AAAA");
  /** @type {Array<[string, (b: any) => any, RegExp]>} */
  const cases = [
    ["null", () => null, /^bundle: evidence is not a JSON object/],
    ["a number", () => 42, /^bundle: evidence is not a JSON object/],
    ["text that is not JSON", () => "{not json", /^bundle: the bundle could not be read/],
    ["an array", () => [], /^bundle: evidence is not a JSON object/],
    ["another format", (b) => ({ ...b, format: "x" }), /^bundle: evidence format is "x"/],
    ["no event", (b) => ({ ...b, event: undefined }), /^bundle: evidence event is not a JSON object/],
    ["header of 185 bytes", (b) => ({ ...b, block: { ...b.block, header: Buffer.alloc(185).toString("base64") } }), /186 bytes, got 185/],
    ["header field disagrees", (b) => ({ ...b, block: { ...b.block, sealed_at: 1 } }), /block\.sealed_at is 1 but the header bytes say/],
    ["header field a string", (b) => ({ ...b, block: { ...b.block, height: "1" } }), /block\.height is "1"/],
    ["leaf index true", (b) => ({ ...b, leaf_index: true }), /leaf_index is missing or not a int/],
    ["negative tree size", (b) => ({ ...b, tree_size: -8 }), /tree_size is negative/],
    ["leaf index 1e300", (b) => ({ ...b, leaf_index: 1e300 }), /^leaf-in-block: /],
    ["bad base64", (b) => ({ ...b, event: { ...b.event, canonical: "A" } }), /event\.canonical is not valid base64/],
    ["base64 not canonical", (b) => ({ ...b, inclusion_proof: ["AB=="] }), /inclusion_proof entry is not canonical base64/],
    ["200,000 proof hashes", (b) => ({ ...b, inclusion_proof: huge }), /inclusion_proof has 200000 entries, more than 4096/],
    ["proof too long for the tree", (b) => ({ ...b, inclusion_proof: [...b.inclusion_proof, ...b.inclusion_proof] }), /^inclusion: inclusion proof is too long/],
    ["200,000 receipts", (b) => ({ ...b, receipts: Array(200_000).fill(b.receipts[0]) }), /receipts has 200000 entries, more than 64/],
    ["200,000 keys", (b) => ({ ...b, keys: huge }), /keys has 200000 entries, more than 256/],
    ["a bundle key that is no key", (b) => ({ ...b, keys: ["x"] }), /verifier key "x" is not <name>\+<key id>\+<key>/],
    ["anchored false with receipts", (b) => ({ ...b, anchored: false }), /anchored is false but it carries receipts/],
    ["16 MB of canonical bytes", (b) => ({ ...b, event: { ...b.event, canonical: "A".repeat(16 << 20) } }), /over 8388608 characters/],
    ["canonical bytes of another event", (b) => ({ ...b, event: { ...b.event, event_id: "0193a0b1-0000-7000-8000-000000000005" } }), /^event-id: canonical bytes hold event .*4, the bundle says .*5/],
    ["a receipt without a type", (b) => ({ ...b, receipts: [{}] }), /receipt is not an object with a string 'type'/],
    ["a link proof of 1,000 hashes", (b) => withReceipt(b, 0, (r) => ({ ...r, link: { ...r.link, consistency_proof: huge.slice(0, 1000) } })), /^receipt\[0\]:rfc3161: receipt link\.consistency_proof has 1000 entries/],
    ["a link without a header", (b) => withReceipt(b, 0, (r) => ({ ...r, link: { ...r.link, header: null } })), /^receipt\[0\]:rfc3161: receipt link\.header is missing or not a string/],
    ["a 5 MB statement", (b) => withReceipt(b, 0, (r) => ({ ...r, statement: `${"x".repeat(5 << 20)}\n` })), /^receipt\[0\]:rfc3161: statement: note has \d+ characters, more than/],
    ["a 1 MB witnessed checkpoint", (b) => withReceipt(b, 1, (r) => ({ ...r, checkpoint: "x".repeat(1 << 20) })), /^receipt\[1\]:tlog-witness: tlog-witness checkpoint has 1048576 characters/],
    ["a witness proof of strings and numbers", (b) => withReceipt(b, 1, (r) => ({ ...r, consistency_proof: [1] })), /^receipt\[1\]:tlog-witness: tlog-witness consistency_proof has a non-string entry/],
  ];
  for (const [name, change, reason] of cases) {
    const verdict = await v.verifyBundle(change(structuredClone(ANCHORED)));
    assert.equal(verdict.status, "failed", name);
    assert.match(verdict.reason ?? "", reason, name);
  }
  const broken = await createVerifier({ pinnedKeys: ["nonsense"], logOrigin: ORIGIN }).verifyBundle(ANCHORED);
  assert.match(broken.reason ?? "", /^trust: pinned key 0|^trust: verifier key "nonsense"/);
  const noOrigin = createVerifier({ pinnedKeys: [SEALER.vkey, ANCHORER.vkey] });
  assert.match(noOrigin.problem ?? "", /no log origin/);
  assert.equal((await noOrigin.verifyBundle(ANCHORED)).status, "failed");
  assert.equal(createVerifier({ pinnedKeys: [SEALER.vkey] }).logOrigin, ORIGIN, "one key name is the origin, as in provledger verify");
});

/** @param {any} b @param {number} i @param {(r: any) => any} change */
function withReceipt(b, i, change) {
  return { ...b, receipts: b.receipts.map((r, j) => (j === i ? change(r) : r)) };
}

test("every single change of a signed byte or character fails the bundle, and none makes the verifier throw", async () => {
  const v = verifier({ pinnedKeys: [SEALER.vkey, ANCHORER.vkey], witnessPolicy: POLICY });
  /** @param {string} text @param {number} i */
  const flipChar = (text, i) => text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 1) + text.slice(i + 1);
  /** @param {string} b64 @param {number} i */
  const flipByte = (b64, i) => { const raw = Buffer.from(b64, "base64"); raw[i] ^= 1; return raw.toString("base64"); };
  /** @type {Array<[string, number, (b: any, i: number) => void]>} */
  const fieldsOf = [
    ["canonical event byte", Buffer.from(ANCHORED.event.canonical, "base64").length, (b, i) => { b.event.canonical = flipByte(b.event.canonical, i); }],
    ["header signature byte", 64, (b, i) => { b.block.signature = flipByte(b.block.signature, i); }],
    ["checkpoint character", ANCHORED.checkpoint.length, (b, i) => { b.checkpoint = flipChar(b.checkpoint, i); }],
    ["statement character", ANCHORED.receipts[0].statement.length, (b, i) => { b.receipts[0].statement = flipChar(b.receipts[0].statement, i); }],
    ["link header byte", 186, (b, i) => { b.receipts[0].link.header = flipByte(b.receipts[0].link.header, i); }],
    ["witnessed checkpoint character", ANCHORED.receipts[1].checkpoint.length, (b, i) => { b.receipts[1].checkpoint = flipChar(b.receipts[1].checkpoint, i); }],
  ];
  for (const [what, count, change] of fieldsOf) {
    for (let i = 0; i < count; i += 1) {
      const changed = structuredClone(ANCHORED);
      change(changed, i);
      const verdict = await v.verifyBundle(changed);
      assert.equal(verdict.status, "failed", `${what} ${i}`);
      assert.ok(verdict.reason, `${what} ${i}`);
    }
  }
});
