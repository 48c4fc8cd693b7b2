// Witness policies: the Sigsum policy file format (sigsum-go doc/policy.md) with witness keys as C2SP
// verifier keys, read exactly as `provledger verify --witness-policy` reads it
// (`provledger.ledger.witness_policy`), and the check of a checkpoint's cosignatures against it.
//
// SPEC (sigsum policy.md): "A policy file must include exactly one quorum line"; "A line defining a
// group can only reference names of groups and witnesses defined on preceding lines"; "Each defined
// name can be listed as a member at most once"; "Duplicate witnesses, i.e., multiple witness lines
// with the same public key, are not allowed." `quorum none` is refused: it would require nothing.

import { VerifyError, hex } from "./bytes.js";
import { SIG_TYPE_COSIGNATURE, keyIdOf, parseVerifierKey, validKeyName } from "./keys.js";
import { openNote, parseNote, rfc3339, verifyCosignature } from "./note.js";

const MAX_WITNESSES = 1024;
const MAX_GROUPS = 1024;
const MAX_POLICY_CHARS = 1 << 20;

/**
 * @typedef {{name: string, keyName: string, keyId: string, publicKey: Uint8Array}} PolicyWitness
 * @typedef {{name: string, threshold: number, members: string[]}} PolicyGroup
 * @typedef {{witnesses: PolicyWitness[], groups: PolicyGroup[], quorum: string,
 *            logs: import("./keys.js").VerifierKey[]}} WitnessPolicy
 */

/** @param {number} line @param {string} reason */
const policyError = (line, reason) => new VerifyError(`witness policy line ${line}: ${reason}`);

/** @param {number} line @param {string} name @param {string} text @returns {PolicyWitness} */
function witnessKey(line, name, text) {
  if (/^[0-9a-fA-F]{64}$/.test(text)) {
    // Sigsum Appendix A: a hex key's witness is named by its key name.
    if (!validKeyName(name)) throw policyError(line, `witness ${JSON.stringify(name)} with a hex key must be named by its key name`);
    const publicKey = Uint8Array.from(text.match(/../g) ?? [], (b) => parseInt(b, 16));
    return { name, keyName: name, keyId: keyIdOf(name, SIG_TYPE_COSIGNATURE, publicKey), publicKey };
  }
  try {
    const key = parseVerifierKey(text, SIG_TYPE_COSIGNATURE);
    return { name, keyName: key.name, keyId: key.keyId, publicKey: key.publicKey };
  } catch (error) {
    throw policyError(line, `witness ${JSON.stringify(name)} key is not a cosignature/v1 verifier key ` +
      `(<name>+<id>+<base64(0x04 || key)>, as \`provledger witness keys\` prints) nor 64 hex digits: ${/** @type {Error} */ (error).message}`);
  }
}

/**
 * Parse a policy file's text strictly; the Error names the line and the fix.
 * @param {string} text
 * @returns {WitnessPolicy}
 */
export function parseWitnessPolicy(text) {
  if (typeof text !== "string" || text.length > MAX_POLICY_CHARS) throw new VerifyError("the witness policy is not text of at most 1 MiB");
  /** @type {Array<[number, string[]]>} */
  const lines = [];
  text.split("\n").forEach((raw, i) => {
    const bad = /[\u0000-\u0008\u000a-\u001f\u007f]/.exec(raw);
    if (bad) {
      const hint = bad[0] === "\r" ? ": save the file with Unix line endings" : "";
      throw policyError(i + 1, `control character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} (only tab and newline are allowed)${hint}`);
    }
    const items = raw.split("#")[0].split(/[ \t]+/).filter(Boolean);
    if (items.length) lines.push([i + 1, items]);
  });
  /** @type {Map<string, number>} */
  const later = new Map();
  for (const [n, items] of lines) if ((items[0] === "witness" || items[0] === "group") && items.length > 1 && !later.has(items[1])) later.set(items[1], n);
  /** @type {Map<string, number>} */
  const defined = new Map();
  /** @type {Map<string, string>} */
  const memberOf = new Map();
  /** @type {Map<string, number>} */
  const keys = new Map();
  /** @type {WitnessPolicy} */
  const policy = { witnesses: [], groups: [], quorum: "", logs: [] };
  const define = (/** @type {number} */ n, /** @type {string} */ name) => {
    if (name === "none") throw policyError(n, "'none' is predefined (the empty group): choose another name");
    if (defined.has(name)) throw policyError(n, `name ${JSON.stringify(name)} is already defined on line ${defined.get(name)}`);
    defined.set(name, n);
  };
  for (const [n, [keyword, ...args]] of lines) {
    if (keyword === "witness") {
      if (args.length !== 2 && args.length !== 3) throw policyError(n, "a witness line is 'witness <name> <key> [<url>]'");
      const witness = witnessKey(n, args[0], args[1]);
      const id = hex(witness.publicKey);
      if (keys.has(id)) throw policyError(n, `witness ${JSON.stringify(args[0])} has the same key as the witness on line ${keys.get(id)}`);
      if (policy.witnesses.length === MAX_WITNESSES) throw policyError(n, `more than ${MAX_WITNESSES} witnesses`);
      define(n, args[0]);
      keys.set(id, n);
      policy.witnesses.push(witness);
    } else if (keyword === "group") {
      if (args.length < 3) throw policyError(n, "a group line is 'group <name> <k>|all|any <member>...', members not empty");
      const [name, k, ...members] = args;
      define(n, name);
      for (const member of members) {
        if (member === "none") throw policyError(n, `group ${JSON.stringify(name)} lists 'none', the empty group: remove it`);
        if (!defined.has(member) || member === name) {
          const where = later.has(member) && member !== name ? `defined only later on line ${later.get(member)}: define members before the groups that use them` : "which no witness or group line defines before it";
          throw policyError(n, `group ${JSON.stringify(name)} lists ${JSON.stringify(member)}, ${where}`);
        }
        if (memberOf.has(member)) throw policyError(n, `${JSON.stringify(member)} is already a member of group ${JSON.stringify(memberOf.get(member))}: each name may be listed as a member at most once`);
        memberOf.set(member, name);
      }
      const threshold = k === "any" ? 1 : k === "all" ? members.length : /^[1-9][0-9]{0,5}$/.test(k) ? Number(k) : 0;
      if (!(threshold >= 1 && threshold <= members.length)) {
        throw policyError(n, `group ${JSON.stringify(name)} threshold ${JSON.stringify(k)} is out of range: k is a number from 1 to ${members.length} (its member count), any or all`);
      }
      if (policy.groups.length === MAX_GROUPS) throw policyError(n, `more than ${MAX_GROUPS} groups`);
      policy.groups.push({ name, threshold, members });
    } else if (keyword === "quorum") {
      if (args.length !== 1) throw policyError(n, "a quorum line is 'quorum <name>' (one witness or group)");
      if (policy.quorum) throw policyError(n, "a second quorum line: a policy has exactly one");
      if (args[0] === "none") throw policyError(n, "'quorum none' requires no cosignature at all, so it proves nothing: name the witness or group whose cosignatures you require");
      if (!defined.has(args[0])) throw policyError(n, `quorum ${JSON.stringify(args[0])} is ${later.has(args[0]) ? `defined only later on line ${later.get(args[0])}` : "not defined"}: define it before the quorum line`);
      policy.quorum = args[0];
    } else if (keyword === "log") {
      if (args.length !== 1 && args.length !== 2) throw policyError(n, "a log line is 'log <vkey> [<url>]'");
      let key;
      try {
        key = parseVerifierKey(args[0]);
      } catch (error) {
        throw policyError(n, `log key is not a C2SP Ed25519 verifier key (<name>+<id>+<key>, type 0x01): ${/** @type {Error} */ (error).message}`);
      }
      if (policy.logs.some((l) => l.vkey === key.vkey)) throw policyError(n, `log ${JSON.stringify(key.name)} is listed twice`);
      policy.logs.push(key);
    } else {
      throw policyError(n, `unknown keyword ${JSON.stringify(keyword)}: a line is log, witness, group or quorum`);
    }
  }
  if (!policy.quorum) throw new VerifyError("witness policy has no quorum line: add 'quorum <name>' naming the witness or group whose cosignatures you require");
  return policy;
}

/** @param {PolicyWitness} w @returns {string} the policy name, with the key name when they differ */
const describe = (w) => (w.name === w.keyName ? w.name : `${w.name} (${w.keyName})`);

/**
 * Whether the named witnesses meet the quorum, groups evaluated in definition order.
 * @param {WitnessPolicy} policy @param {Set<string>} cosigned
 * @returns {{met: boolean, detail: string}}
 */
export function evaluateQuorum(policy, cosigned) {
  /** @type {Map<string, boolean>} */
  const met = new Map(policy.witnesses.map((w) => [w.name, cosigned.has(w.name)]));
  for (const g of policy.groups) met.set(g.name, g.members.filter((m) => met.get(m)).length >= g.threshold);
  const have = policy.witnesses.filter((w) => met.get(w.name)).map((w) => w.name).sort();
  const lacking = policy.witnesses.filter((w) => !met.get(w.name)).map((w) => w.name).sort();
  const cosigners = `cosigned by ${have.join(", ") || "no policy witness"}`;
  if (met.get(policy.quorum)) return { met: true, detail: `quorum '${policy.quorum}' met: ${cosigners}` };
  const group = policy.groups.find((g) => g.name === policy.quorum);
  const needs = group ? `it needs ${group.threshold} of ${group.members.join(", ")}` : `it needs witness '${policy.quorum}'`;
  return { met: false, detail: `quorum '${policy.quorum}' not met (${needs}): ${cosigners}; missing ${lacking.join(", ")}` };
}

/**
 * The policy witnesses' cosignatures over exactly this note's text, and the quorum they meet; a
 * policy witness's line that does not verify fails, as does an unmet quorum. Lines of keys the
 * policy does not list are ignored. SPEC: C2SP tlog-cosignature: clients "ignore any signature
 * lines that don't match the name and key ID".
 * @param {string} signedCheckpoint @param {WitnessPolicy} policy
 * @returns {Promise<{detail: string, latest: bigint}>} `latest`: the latest counted cosignature time (seconds)
 */
export async function checkCosignatures(signedCheckpoint, policy) {
  const note = parseNote(signedCheckpoint);
  if (policy.logs.length) await openNote(signedCheckpoint, policy.logs);
  /** @type {Map<string, {witness: PolicyWitness, timestamp: bigint}>} */
  const earliest = new Map();
  for (const line of note.signatures) {
    const witness = policy.witnesses.find((w) => w.keyName === line.name && w.keyId === line.keyId);
    if (witness === undefined) continue;
    const timestamp = await verifyCosignature(witness.publicKey, note.text, line.signature);
    if (timestamp === null) {
      throw new VerifyError(`the cosignature of witness ${describe(witness)} does not verify over this checkpoint (it cosigned another checkpoint, or the line was altered)`);
    }
    rfc3339(timestamp);
    const seen = earliest.get(witness.name);
    if (seen === undefined || timestamp < seen.timestamp) earliest.set(witness.name, { witness, timestamp });
  }
  const outcome = evaluateQuorum(policy, new Set(earliest.keys()));
  if (!outcome.met) throw new VerifyError(`${outcome.detail}: fetch the bundle again once more witnesses have cosigned, or check the witness keys in the policy`);
  const ordered = [...earliest.values()].sort((a, b) => (a.timestamp === b.timestamp ? a.witness.name.localeCompare(b.witness.name) : a.timestamp < b.timestamp ? -1 : 1));
  const cosigned = ordered.map((c) => `${describe(c.witness)} at ${rfc3339(c.timestamp)}`).join(", ");
  return { detail: `cosigned by ${cosigned}; ${outcome.detail}`, latest: ordered[ordered.length - 1].timestamp };
}
