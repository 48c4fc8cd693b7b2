// The ledger view's return-visit check, with the page's real verifier: a log that only grew is
// "consistent since your last visit", a rewritten, shrunk or falsely proven one is a loud failure,
// and a failure never replaces the checkpoint remembered. Trees, proofs and signatures are real
// (RFC 9162 reference trees, Ed25519); the server's answers come from those trees.
import assert from "node:assert/strict";
import { test } from "node:test";

import { STORAGE_KEY, checkShard, rememberedCheckpoints } from "../../services/provledger/web/static/js/ledger-view.js";
import { createVerifier } from "../../services/provledger/web/static/js/verify/index.js";
import { MemoryStorage, checkpointText, consistencyProof, leafHash, newKey, signNote, treeRoot }
  from "./ledger_view_fixtures.mjs";

const ORIGIN = "ledger.example/ml";
const SEALER = newKey(ORIGIN);
const leaves = (/** @type {number} */ n, tag = "") => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`event ${i}${tag}`)));
/** The shard's signed checkpoint over `tree`. @param {Buffer[]} tree */
const checkpoint = (tree, key = SEALER) => signNote(checkpointText(`${ORIGIN}/shard/0`, tree.length, treeRoot(tree)), key);

/** The consistency endpoint of a server whose log is `tree`, optionally lying about the proof. */
function server(/** @type {Buffer[]} */ tree, answer = (/** @type {string[]} */ proof) => ({ proof })) {
  return {
    /** @param {string} path */
    async getJSON(path) {
      const match = /^\/v1\/shards\/0\/consistency\?from=(\d+)&to=(\d+)$/.exec(path);
      assert.ok(match, path);
      assert.equal(Number(match[2]), tree.length);
      return answer(consistencyProof(Number(match[1]), tree));
    },
    async getText() {
      throw new Error("the view passes the checkpoint it read");
    },
  };
}

const verifier = createVerifier({ pinnedKeys: [SEALER.vkey], serverKeys: [], logOrigin: ORIGIN });

/** Visit with the log `tree`, after a first visit that saw `seen`. */
async function visit(/** @type {Buffer[]} */ seen, /** @type {Buffer[]} */ tree, answer = undefined, key = SEALER) {
  const storage = new MemoryStorage();
  const first = await checkShard({ shard: 0, current: checkpoint(seen), api: server(seen), verifier, storage });
  assert.equal(first.state, "remembered", first.message);
  assert.match(first.message, new RegExp(`^remembered \\(size ${seen.length}, signed by your pinned keys\\)`));
  const check = await checkShard({ shard: 0, current: checkpoint(tree, key), api: server(tree, answer), verifier, storage });
  return { check, kept: rememberedCheckpoints(storage)[0] };
}

test("a log that only grew is consistent since the last visit, and its new checkpoint is remembered", async () => {
  const tree = leaves(13);
  const { check, kept } = await visit(tree.slice(0, 5), tree);
  assert.deepEqual(check, {
    state: "consistent", message: "consistent since your last visit (size 5 -> 13), signed by your pinned keys" });
  assert.equal(kept, checkpoint(tree));
  assert.equal((await visit(tree, tree)).check.state, "consistent");
});

test("a log rewritten behind the remembered checkpoint fails loudly and the old one is kept", async () => {
  const old = leaves(5);
  const rewritten = [...leaves(2), ...leaves(11, "forged").slice(2)];
  const { check, kept } = await visit(old, rewritten);
  assert.equal(check.state, "failed");
  assert.match(check.message, /^REWRITTEN LOG: size 5 -> 11 is not consistent: \S/);
  assert.equal(kept, checkpoint(old));
});

test("a log that shrank fails without asking the server for a proof", async () => {
  const tree = leaves(9);
  const { check, kept } = await visit(tree, tree.slice(0, 4));
  assert.deepEqual(check.state, "failed");
  assert.match(check.message, /shrank from size 9 to 4/);
  assert.equal(kept, checkpoint(tree));
});

test("a tampered or missing consistency answer fails", async () => {
  const tree = leaves(10);
  const flip = (/** @type {string[]} */ proof) =>
    ({ proof: proof.map((h, i) => (i === 0 ? Buffer.alloc(32, 1).toString("base64") : h)) });
  for (const answer of [flip, () => ({ proof: [] }), () => ({}), () => ({ proof: [7] }), () => null]) {
    const { check } = await visit(tree.slice(0, 3), tree, answer);
    assert.equal(check.state, "failed", JSON.stringify(answer(consistencyProof(3, tree))));
  }
});

test("a checkpoint signed by a key the user did not pin is not accepted as consistent", async () => {
  const tree = leaves(6);
  const { check } = await visit(tree.slice(0, 2), tree, undefined, newKey(ORIGIN));
  assert.equal(check.state, "failed");
});

test("a first visit to a checkpoint that does not verify remembers nothing", async () => {
  const storage = new MemoryStorage();
  const forged = checkpoint(leaves(3), newKey(ORIGIN));
  const check = await checkShard({ shard: 0, current: forged, api: server(leaves(3)), verifier, storage });
  assert.equal(check.state, "failed");
  assert.equal(storage.getItem(STORAGE_KEY), null);
});

test("a shard that now names another log fails; an unreadable remembered note gives way to a verified one only", async () => {
  const storage = new MemoryStorage();
  const tree = leaves(4);
  const elsewhere = signNote(checkpointText(`${ORIGIN}/shard/9`, tree.length, treeRoot(tree)), SEALER);
  storage.setItem(STORAGE_KEY, JSON.stringify({ 0: elsewhere }));
  const moved = await checkShard({ shard: 0, current: checkpoint(tree), api: server(tree), verifier, storage });
  assert.equal(moved.state, "failed");
  assert.match(moved.message, /^ANOTHER LOG: shard 0 was ledger\.example\/ml\/shard\/9 on your last visit/);
  storage.setItem(STORAGE_KEY, JSON.stringify({ 0: "not a note" }));
  const replaced = await checkShard({ shard: 0, current: checkpoint(tree), api: server(tree), verifier, storage });
  assert.equal(replaced.state, "remembered");
  assert.match(replaced.message, /the one kept here was unreadable/);
  assert.equal(rememberedCheckpoints(storage)[0], checkpoint(tree));
  storage.setItem(STORAGE_KEY, JSON.stringify({ 0: "not a note" }));
  const forged = await checkShard({ shard: 0, current: checkpoint(tree, newKey(ORIGIN)), api: server(tree), verifier, storage });
  assert.equal(forged.state, "failed");
  assert.equal(rememberedCheckpoints(storage)[0], "not a note");
});
