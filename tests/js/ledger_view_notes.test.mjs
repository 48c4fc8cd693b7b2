// What the ledger view reads without a verifier: checkpoint notes (the log's signature and the
// witnesses' cosignatures with their times), the checkpoints it remembered, an RFC 3161 token's
// stated time. Notes here are signed for real with Ed25519, as the sealer and witnesses sign them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { STORAGE_KEY, parseCheckpointNote, rememberedCheckpoints, statedTokenTime }
  from "../../services/provledger/web/static/js/ledger-view.js";
import { MemoryStorage, checkpointText, cosign, newKey, signNote } from "./ledger_view_fixtures.mjs";

const LOG = newKey("ledger.example/ml");
const WITNESS = newKey("w.example/witness", 0x04);

test("a cosigned checkpoint shows its origin, size, the log's signature and each witness with its time", () => {
  const text = checkpointText("ledger.example/ml/shard/3", 5, Buffer.alloc(32, 7));
  const note = cosign(signNote(text, LOG), text, WITNESS, 1_795_478_400);
  const parsed = parseCheckpointNote(note);
  assert.equal(parsed.origin, "ledger.example/ml/shard/3");
  assert.equal(parsed.size, 5);
  assert.equal(parsed.root, Buffer.alloc(32, 7).toString("base64"));
  assert.deepEqual(parsed.signatures, [
    { name: "ledger.example/ml", keyId: LOG.keyId, kind: "signature", time: null },
    { name: "w.example/witness", keyId: WITNESS.keyId, kind: "cosignature", time: new Date("2026-11-24T00:00:00Z") },
  ]);
});

test("anything that is not a signed checkpoint is refused with a reason", () => {
  const text = checkpointText("o/shard/0", 1, Buffer.alloc(32));
  const good = signNote(text, LOG);
  for (const bad of [
    "", text, good.replace("\n1\n", "\n01\n"), good.replace("\n1\n", "\n-1\n"), `x\n${good}`.replace("o/shard/0", ""),
    good.replace("\u2014 ", "- "), `${good.slice(0, -2)}!\n`, good.slice(0, -1), /** @type {any} */ (null),
  ]) {
    assert.throws(() => parseCheckpointNote(bad), Error, JSON.stringify(bad));
  }
});

test("remembered checkpoints survive garbage in local storage by ignoring it", () => {
  const storage = new MemoryStorage();
  assert.deepEqual(rememberedCheckpoints(storage), {});
  for (const garbage of ["{", "[1]", "null", '"x"', "7"]) {
    storage.setItem(STORAGE_KEY, garbage);
    assert.deepEqual(rememberedCheckpoints(storage), {}, garbage);
  }
  storage.setItem(STORAGE_KEY, JSON.stringify({ 0: "a note", 1: 5, x: "b", "01": "c", 2: null }));
  assert.deepEqual(rememberedCheckpoints(storage), { 0: "a note" });
});

test("an RFC 3161 token's stated time is read from its GeneralizedTime, else left empty", () => {
  const der = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x18]),
    Buffer.from([0x18, 0x13]), Buffer.from("20261205103409.123Z"), Buffer.alloc(8)]);
  assert.equal(statedTokenTime(der.toString("base64")), "2026-12-05T10:34:09.123Z");
  assert.equal(statedTokenTime(Buffer.from([0x18, 0x0f, 0x41]).toString("base64")), "");
  assert.equal(statedTokenTime("not base64!"), "");
});
