// RFC 9162 proofs in the page's verifier: the transparency-dev/merkle vectors (read in place from
// ../shared/testdata, as the Python tests read them), and every proof of small trees built by the
// RFC's recursive definitions, with each hash of each proof tampered.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { leafHash as jsLeafHash, verifyConsistency, verifyInclusion } from "../../services/provledger/web/static/js/verify/merkle.js";
import { sha256Sync } from "../../services/provledger/web/static/js/verify/sha256.js";
import { consistencyProof, leafHash, treeRoot } from "./ledger_view_fixtures.mjs";
import { inclusionProof } from "./verify_fixtures.mjs";

const VECTORS = fileURLToPath(new URL("../../../shared/testdata/transparency-dev-merkle/", import.meta.url));
const b64 = (/** @type {string} */ s) => new Uint8Array(Buffer.from(s ?? "", "base64"));

/** Every vector file of one kind, as [relative path, case]. @param {string} kind */
function vectors(kind) {
  const root = join(VECTORS, kind);
  /** @type {Array<[string, any]>} */
  const found = [];
  const walk = (/** @type {string} */ dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".json")) found.push([path.slice(root.length + 1), JSON.parse(readFileSync(path, "utf8"))]);
    }
  };
  walk(root);
  return found;
}

/** @param {() => Promise<void>} run @returns {Promise<boolean>} whether it verified */
const holds = (run) => run().then(() => true, () => false);

for (const kind of ["inclusion", "consistency"]) {
  test(`transparency-dev/merkle ${kind} vectors`, async (t) => {
    if (!existsSync(VECTORS)) {
      t.skip(`${VECTORS} is absent (a clone outside this workspace): the reference-tree tests still run`);
      return;
    }
    const cases = vectors(kind);
    assert.ok(cases.length > 20, `only ${cases.length} ${kind} vectors found`);
    for (const [name, c] of cases) {
      const proof = (c.proof ?? []).map(b64);
      const verified = kind === "inclusion"
        ? await holds(() => verifyInclusion(b64(c.leafHash), BigInt(c.leafIdx), BigInt(c.treeSize), proof, b64(c.root)))
        : await holds(() => verifyConsistency(BigInt(c.size1), BigInt(c.size2), b64(c.root1), b64(c.root2), proof));
      assert.equal(verified, !c.wantErr, `${kind}/${name}: ${c.desc}`);
    }
  });
}

const tree = (/** @type {number} */ n) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
const flip = (/** @type {Uint8Array[]} */ proof, /** @type {number} */ i) =>
  proof.map((h, j) => (j === i ? Uint8Array.from(h, (b, k) => (k === 7 ? b ^ 1 : b)) : h));

test("every inclusion proof of trees up to 33 leaves verifies, and fails with any hash changed", async () => {
  for (let n = 1; n <= 33; n += 1) {
    const leaves = tree(n);
    const root = treeRoot(leaves);
    for (let m = 0; m < n; m += 1) {
      const proof = inclusionProof(m, leaves).map((h) => new Uint8Array(h));
      await verifyInclusion(leaves[m], BigInt(m), BigInt(n), proof, root);
      for (let i = 0; i < proof.length; i += 1) {
        assert.equal(await holds(() => verifyInclusion(leaves[m], BigInt(m), BigInt(n), flip(proof, i), root)), false, `${m}/${n} @${i}`);
      }
      if (n > 1) assert.equal(await holds(() => verifyInclusion(leaves[m], BigInt((m + 1) % n), BigInt(n), proof, root)), false);
      assert.equal(await holds(() => verifyInclusion(leaves[m], BigInt(m), BigInt(n), [...proof, leaves[0]], root)), false);
    }
  }
});

test("every consistency proof of trees up to 33 leaves verifies, and fails with any hash changed", async () => {
  const leaves = tree(33);
  for (let n = 1; n <= 33; n += 1) {
    for (let m = 1; m < n; m += 1) {
      const proof = consistencyProof(m, leaves.slice(0, n)).map(b64);
      const [oldRoot, newRoot] = [treeRoot(leaves.slice(0, m)), treeRoot(leaves.slice(0, n))];
      await verifyConsistency(BigInt(m), BigInt(n), oldRoot, newRoot, proof);
      for (let i = 0; i < proof.length; i += 1) {
        assert.equal(await holds(() => verifyConsistency(BigInt(m), BigInt(n), oldRoot, newRoot, flip(proof, i))), false, `${m}->${n} @${i}`);
      }
    }
  }
});

test("hostile proofs are refused before any work: too many hashes, sizes beyond uint64, old size 0", async () => {
  const leaves = tree(4);
  const root = treeRoot(leaves);
  const long = Array.from({ length: 65 }, () => leaves[0]);
  await assert.rejects(verifyInclusion(leaves[0], 0n, 4n, long, root), /65 hashes, more than 64/);
  await assert.rejects(verifyInclusion(leaves[0], 0n, 1n << 64n, [], root), /outside a tree/);
  await assert.rejects(verifyInclusion(leaves[0], 4n, 4n, [], root), /outside a tree/);
  await assert.rejects(verifyInclusion(leaves[0].subarray(1), 0n, 4n, [], root), /leaf hash has 31 bytes/);
  await assert.rejects(verifyConsistency(0n, 4n, root, root, []), /old size 0/);
  await assert.rejects(verifyConsistency(5n, 4n, root, root, []), /larger/);
  await assert.rejects(verifyConsistency(1n, 1n << 64n, root, root, [root]), /not uint64/);
  await assert.rejects(verifyConsistency(2n, 4n, root, root, long), /more than 64/);
});

test("the leaf hash is SHA-256(0x00 || bytes), and the synchronous SHA-256 agrees with node:crypto", async () => {
  assert.deepEqual(Buffer.from(await jsLeafHash(new Uint8Array([1, 2, 3]))), leafHash(Buffer.from([1, 2, 3])));
  for (const size of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000]) {
    const data = Buffer.from(Array.from({ length: size }, (_, i) => (i * 31) & 255));
    assert.deepEqual(Buffer.from(sha256Sync(data)), createHash("sha256").update(data).digest(), `size ${size}`);
  }
});
