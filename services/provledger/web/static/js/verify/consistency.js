// Consistency between two checkpoints of one shard, for the page's ledger view: the checkpoint a
// browser remembered and the one the server shows now, each signed by a trusted key, and the
// RFC 9162 proof that the older tree is a prefix of the newer. A returning user thereby notices
// a rewritten log.

import { VerifyError, b64decodeStrict } from "./bytes.js";
import { MAX_PROOF_HASHES, verifyConsistency } from "./merkle.js";
import { openNote, parseCheckpoint } from "./note.js";

/**
 * @param {unknown} oldText @param {unknown} newText @param {unknown} proofB64s
 * @param {string} logOrigin
 * @param {ReadonlyArray<readonly ["pinned" | "server-keys", import("./keys.js").TrustedKey[]]>} trusts weakest last
 * @returns {Promise<{ok: boolean, reason: string | null, trust: "pinned" | "server-keys" | null}>}
 */
export async function checkConsistency(oldText, newText, proofB64s, logOrigin, trusts) {
  let reason = "no keys to trust";
  for (const [trust, keys] of trusts) {
    try {
      const [before, now] = await Promise.all([opened(oldText, keys, "the remembered checkpoint"), opened(newText, keys, "the current checkpoint")]);
      if (before.origin !== now.origin) throw new VerifyError(`the checkpoints name two logs, ${JSON.stringify(before.origin)} and ${JSON.stringify(now.origin)}`);
      if (!before.origin.startsWith(`${logOrigin}/shard/`)) {
        throw new VerifyError(`checkpoint origin ${JSON.stringify(before.origin)} is not a shard of ${JSON.stringify(logOrigin)}`);
      }
      if (!Array.isArray(proofB64s) || proofB64s.length > MAX_PROOF_HASHES) throw new VerifyError(`the consistency proof is not a list of at most ${MAX_PROOF_HASHES} hashes`);
      const proof = proofB64s.map((h) => b64decodeStrict(h, "consistency proof hash"));
      // SPEC: RFC 9162 2.1.4.2 (sizes equal: an empty proof and the same root).
      await verifyConsistency(before.size, now.size, before.root, now.root, proof);
      return { ok: true, reason: null, trust };
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
  }
  return { ok: false, reason, trust: null };
}

/** @param {unknown} text @param {import("./keys.js").TrustedKey[]} keys @param {string} what */
async function opened(text, keys, what) {
  try {
    return parseCheckpoint((await openNote(text, keys)).note.text);
  } catch (error) {
    throw new VerifyError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
