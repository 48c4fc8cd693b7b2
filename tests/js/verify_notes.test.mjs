// C2SP signed notes, checkpoints, verifier keys and witness policies as the page's verifier reads
// them: what they accept, and a specific reason for everything they refuse.
import assert from "node:assert/strict";
import { test } from "node:test";

import { parseVerifierKeys, parseWitnessPolicy } from "../../services/provledger/web/static/js/verify/index.js";
import { openNote, parseCheckpoint, parseNote } from "../../services/provledger/web/static/js/verify/note.js";
import { checkCosignatures } from "../../services/provledger/web/static/js/verify/policy.js";
import { cosign, newKey, signNote } from "./ledger_view_fixtures.mjs";

const ROOT = Buffer.alloc(32, 7).toString("base64");
const TEXT = `example.com/log/shard/0\n5\n${ROOT}\n`;

test("a signed note opens under its key and names the signer; a stranger's line is ignored", async () => {
  const [log, stranger] = [newKey("example.com/log"), newKey("stranger.example")];
  const note = signNote(TEXT, stranger) + signNote(TEXT, log).slice(TEXT.length + 1);
  const opened = await openNote(note, [parseVerifierKeys(log.vkey)[0]]);
  assert.deepEqual(opened.verified.map((s) => s.name), ["example.com/log"]);
  assert.equal(opened.note.text, TEXT);
  assert.deepEqual(parseCheckpoint(opened.note.text), { origin: "example.com/log/shard/0", size: 5n, root: new Uint8Array(32).fill(7), extensions: [] });
});

test("a note fails without a trusted signature, with a bad one, or when it is not a note", async () => {
  const [log, other] = [newKey("example.com/log"), newKey("example.com/log")];
  const key = parseVerifierKeys(log.vkey)[0];
  const note = signNote(TEXT, log);
  await assert.rejects(openNote(note, []), /fail closed/);
  await assert.rejects(openNote(signNote(TEXT, other), [key]), /no signature from a trusted key/);
  await assert.rejects(openNote(note.replace("\n5\n", "\n6\n"), [key]), /does not verify/);
  const hostile = [
    [null, /not a string/], [TEXT, /no blank line/], [`${TEXT}\n`, /no signature lines/],
    [`${TEXT}\n- example.com/log AAAAAAAA\n`, /em dash/], [`${TEXT}\n\u2014 example.com/log\n`, /not '— <name> <signature>'/],
    [`${TEXT}\n\u2014 a+b AAAAAAAA\n`, /invalid key name/], [`${TEXT}\n\u2014 x AAAA\n`, /too short/],
    [`${TEXT}\n\u2014 x AAAAAAB=\n`, /not canonical base64/], [`a\tb\n\n\u2014 x AAAAAAAA\n`, /control character U\+0009/],
    [`${TEXT}\n${"\u2014 x AAAAAAAA\n".repeat(101)}`, /101 signatures, more than 100/], ["x".repeat(2 << 20), /more than/],
    [`\ud800${TEXT}\n\u2014 x AAAAAAAA\n`, /UTF-8/],
  ];
  for (const [text, reason] of hostile) assert.throws(() => parseNote(text), reason, String(text).slice(0, 40));
});

test("checkpoint text is read strictly: three lines, a decimal size without leading zeroes, a 32-byte root", () => {
  for (const [text, reason] of [
    ["o\n5\n", /at least 3 lines/], [`o\n05\n${ROOT}\n`, /leading zeroes/], [`o\n-1\n${ROOT}\n`, /not a decimal/],
    [`o\n${"9".repeat(21)}\n${ROOT}\n`, /not a uint64/], ["o\n5\nAAAA\n", /root has 3 bytes/], [`\n5\n${ROOT}\n`, /origin line is empty/],
    [`o\n5\n${ROOT}\n\nx\n`, /extension line is empty/], [`o\n5\n${ROOT}`, /end with a newline/],
  ]) assert.throws(() => parseCheckpoint(text), reason, text);
});

test("verifier keys: one a line with comments, or a JSON key set with ranges; each mistake names its line", () => {
  const [a, b] = [newKey("ledger.example/ml"), newKey("ledger.example/ml/anchorer")];
  const keys = parseVerifierKeys(`# the ledger's keys\n${a.vkey}\n\n  ${b.vkey}  \n`);
  assert.deepEqual(keys.map((k) => [k.name, k.keyId, k.publicKey.length, k.vkey, k.validFrom, k.validUntil]),
    [[a.name, a.keyId, 32, a.vkey, 0, null], [b.name, b.keyId, 32, b.vkey, 0, null]]);
  const set = parseVerifierKeys(JSON.stringify({ keys: [{ key: a.vkey, valid_from: 5, valid_until: 9 }] }));
  assert.deepEqual([set[0].validFrom, set[0].validUntil], [5, 9]);
  const [name, id, material] = [a.vkey.slice(0, a.vkey.indexOf("+")), a.keyId, a.vkey.slice(a.vkey.indexOf("+", a.vkey.indexOf("+") + 1) + 1)];
  const otherId = ((parseInt(id, 16) ^ 1) >>> 0).toString(16).padStart(8, "0");
  for (const [text, reason] of [
    ["", /holds no key/], ["# only a comment\n", /holds no key/], [`${a.vkey}\nnonsense\n`, /line 2 is not a C2SP verifier key/],
    [`${name}+${otherId}+${material}`, /derives another/], [`${name}+${id.toUpperCase()}+${material}`, /8 lowercase hex/],
    [`${name}+${id}+${Buffer.concat([Buffer.from([4]), Buffer.from(material, "base64").subarray(1)]).toString("base64")}`, /signature type 0x01/],
    [`${name}+${id}+AAAA`, /not of signature type|key bytes/], [`a b+${id}+${material}`, /invalid name/],
    ["[]", /non-empty list/], ['[{"key": 5}]', /not \{key, valid_from, valid_until\}/],
    [JSON.stringify([{ key: a.vkey, valid_from: 9, valid_until: 9 }]), /not after its start/], ["{", /not JSON/],
  ]) assert.throws(() => parseVerifierKeys(text), reason, text);
});

const witnesses = [newKey("w1.example/witness", 0x04), newKey("w2.example/witness", 0x04), newKey("w3.example/witness", 0x04)];
const POLICY = `# two of three
witness a ${witnesses[0].vkey}
witness b ${witnesses[1].vkey}   https://b.example/
witness c ${witnesses[2].vkey}
group two 2 a b c
quorum two
`;

test("a Sigsum witness policy: k of n, and cosignatures checked over exactly the checkpoint", async () => {
  const policy = parseWitnessPolicy(POLICY);
  assert.deepEqual(policy.groups, [{ name: "two", threshold: 2, members: ["a", "b", "c"] }]);
  const log = newKey("example.com/log");
  const note = signNote(TEXT, log);
  const one = cosign(note, TEXT, witnesses[0], 1796083200);
  const two = cosign(one, TEXT, witnesses[2], 1796083300);
  const stranger = cosign(two, TEXT, newKey("x.example/witness", 0x04), 1796083400);
  const outcome = await checkCosignatures(stranger, policy);
  assert.equal(outcome.latest, 1796083300n);
  assert.match(outcome.detail, /cosigned by a \(w1\.example\/witness\) at 2026-12-01T00:00:00Z, c \(w3\.example\/witness\) at 2026-12-01T00:01:40Z; quorum 'two' met/);
  await assert.rejects(checkCosignatures(one, policy), /quorum 'two' not met \(it needs 2 of a, b, c\): cosigned by a; missing b, c/);
  const otherText = TEXT.replace("\n5\n", "\n6\n");
  const misplaced = cosign(one, otherText, witnesses[1], 1796083200);
  await assert.rejects(checkCosignatures(misplaced, policy), /witness b \(w2\.example\/witness\) does not verify over this checkpoint/);
  const withLog = parseWitnessPolicy(`log ${newKey("other.example/log").vkey}\n${POLICY}`);
  await assert.rejects(checkCosignatures(two, withLog), /no signature from a trusted key/);
});

test("a witness policy's mistakes name the line and the fix", () => {
  const [w1, w2] = witnesses.map((w) => w.vkey);
  for (const [text, reason] of [
    ["", /no quorum line/], [`witness a ${w1}\nquorum none\n`, /line 2: 'quorum none' requires no cosignature/],
    [`witness a ${w1}\nwitness b ${w1}\nquorum a\n`, /line 2: witness "b" has the same key as the witness on line 1/],
    [`witness a ${w1}\nwitness a ${w2}\nquorum a\n`, /line 2: name "a" is already defined on line 1/],
    [`group g any a\nwitness a ${w1}\nquorum g\n`, /line 1: group "g" lists "a", defined only later on line 2/],
    [`witness a ${w1}\ngroup g 2 a\nquorum g\n`, /line 2: group "g" threshold "2" is out of range/],
    [`witness a ${w1}\ngroup g any a\ngroup h any a\nquorum h\n`, /line 3: "a" is already a member of group "g"/],
    [`witness a ${w1}\nquorum a\nquorum a\n`, /line 3: a second quorum line/], [`witness a ${w1}\r\nquorum a\n`, /line 1: control character U\+000D.*Unix line endings/],
    [`witness a ${newKey("log.example").vkey}\nquorum a\n`, /line 1: witness "a" key is not a cosignature\/v1 verifier key/],
    [`witnes a ${w1}\n`, /line 1: unknown keyword "witnes"/], [`witness a ${w1}\nquorum b\n`, /line 2: quorum "b" is not defined/],
    [`witness none ${w1}\nquorum none\n`, /line 1: 'none' is predefined/], [`log nonsense\nwitness a ${w1}\nquorum a\n`, /line 1: log key is not/],
  ]) assert.throws(() => parseWitnessPolicy(text), reason, text);
  const vkey = witnesses[0].vkey;
  const hex = Buffer.from(vkey.slice(vkey.indexOf("+", vkey.indexOf("+") + 1) + 1), "base64").subarray(1).toString("hex");
  assert.equal(parseWitnessPolicy(`witness w1.example/witness ${hex}\nquorum w1.example/witness\n`).witnesses[0].keyId, witnesses[0].keyId);
});
