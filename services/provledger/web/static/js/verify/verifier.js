// The evidence verifier: every check `provledger verify` runs that a browser can, named and ordered
// as it names and orders them, under the user's pinned keys first and the server's own keys
// (`GET /v1/keys`) only as a weaker second answer. Block-level checks are cached per block, so a
// page checking 100 edges sealed in 10 blocks verifies about 10 header signatures.
//
// Fail closed: whatever a bundle holds (missing fields, wrong types, bad base64, huge lists,
// proofs too long for the tree), the answer is a failed verdict with the reason, never an
// exception and never unbounded work.

import { VerifyError, b64encode, equal, hex, sha256, utf8 } from "./bytes.js";
import { readBundle } from "./bundle.js";
import { decodeCanonicalEvent } from "./event.js";
import { pinnedEntry, serverEntry, validAt } from "./keys.js";
import { leafHash, verifyInclusion } from "./merkle.js";
import { openNote, parseCheckpoint } from "./note.js";
import { parseWitnessPolicy } from "./policy.js";
import { STATEMENT_LINKED, TLOG_WITNESS, headerSigners, signingKey, verifyLink, verifyWitnessReceipt } from "./receipts.js";
import { checkConsistency } from "./consistency.js";

/**
 * @typedef {import("./keys.js").TrustedKey} TrustedKey
 * @typedef {import("./receipts.js").Trust} Trust
 * @typedef {import("./bundle.js").Evidence} Evidence
 * @typedef {{name: string, ok: boolean | null, detail: string}} Check
 * @typedef {{type: string, status: "verified" | "failed" | "unchecked", detail: string}} ReceiptReport
 * @typedef {object} Verdict
 * @property {"verified" | "server-keys" | "failed"} status
 * @property {string | null} reason the first failing check, `<name>: <detail>`
 * @property {string | null} eventId
 * @property {number | null} shard
 * @property {number | null} height
 * @property {Check[]} checks
 * @property {ReceiptReport[]} receipts
 * @property {import("./event.js").CanonicalEvent | null} event what the verified canonical bytes state
 * @property {"pinned" | "server-keys" | null} trust whose keys the checks ran under
 * @property {string | null} blockHash base64 SHA-256 of the header, to group edges by block
 */

/** Blocks whose checks a verifier remembers; past it the cache starts over. */
const MAX_CACHED_BLOCKS = 4096;

/** @param {string} name @param {() => Promise<string>} run @returns {Promise<Check>} */
async function check(name, run) {
  try {
    return { name, ok: true, detail: await run() };
  } catch (error) {
    return { name, ok: false, detail: reasonOf(error) };
  }
}

/** @param {unknown} error @returns {string} */
function reasonOf(error) {
  if (error instanceof VerifyError) return error.message;
  return `unexpected error while checking (treated as a failure): ${error instanceof Error ? error.message : String(error)}`;
}

/** @param {TrustedKey[]} keys @returns {TrustedKey[]} each (key, range, role) once */
function distinct(keys) {
  const seen = new Set();
  return keys.filter((k) => {
    const id = `${k.vkey} ${k.validFrom} ${k.validUntil} ${k.role}`;
    return seen.has(id) ? false : (seen.add(id), true);
  });
}

/** @param {unknown} entry @param {number} i @returns {TrustedKey} */
function pinned(entry, i) {
  const e = /** @type {Record<string, unknown>} */ (entry);
  if (typeof e === "object" && e !== null && typeof e.vkey === "string") {
    return pinnedEntry({ key: e.vkey, valid_from: e.validFrom ?? 0, valid_until: e.validUntil ?? null }, `pinned key ${i}`);
  }
  return pinnedEntry(entry, `pinned key ${i}`);
}

/**
 * The verifier of one page's trust: the user's pinned keys, the server's `/v1/keys` items, the log
 * origin and, optionally, a witness policy (Sigsum policy text). Never throws: trust that cannot
 * be read makes every verdict fail with the reason (`verifier.problem` says it too).
 * @param {{pinnedKeys?: unknown[], serverKeys?: unknown[], logOrigin?: string, witnessPolicy?: string}} trust
 */
export function createVerifier(trust) {
  /** @type {string | null} */
  let problem = null;
  /** @type {Trust | null} */
  let pinnedTrust = null;
  /** @type {Trust | null} */
  let serverTrust = null;
  let origin = "";
  /** @type {import("./policy.js").WitnessPolicy | null} */
  let policy = null;
  try {
    const pins = Array.isArray(trust?.pinnedKeys) ? trust.pinnedKeys : [];
    const served = Array.isArray(trust?.serverKeys) ? trust.serverKeys : [];
    if (pins.length > 1024 || served.length > 4096) throw new VerifyError("too many keys to trust");
    const mine = pins.map(pinned);
    const theirs = served.map((item, i) => serverEntry(item, i));
    const names = new Set(mine.map((k) => k.name));
    origin = typeof trust?.logOrigin === "string" && trust.logOrigin ? trust.logOrigin : names.size === 1 ? [...names][0] : "";
    if (!origin || /\s/u.test(origin)) {
      throw new VerifyError("no log origin: give the ledger's PROVLEDGER_LOG_ORIGIN (its checkpoints' origin line without /shard/<n>)");
    }
    if (mine.length) pinnedTrust = { headerKeys: mine, statementKeys: mine, allKeys: mine };
    if (theirs.length) {
      const sealers = theirs.filter((k) => k.role === "sealer");
      const anchorers = theirs.filter((k) => k.role === "anchorer");
      serverTrust = {
        headerKeys: distinct([...mine, ...sealers]),
        statementKeys: distinct([...mine, ...anchorers]),
        allKeys: distinct([...mine, ...theirs]),
      };
    }
    if (!pinnedTrust && !serverTrust) throw new VerifyError("no keys to trust: pin the ledger's keys, or let the page read GET /v1/keys");
    if (typeof trust?.witnessPolicy === "string" && trust.witnessPolicy.trim()) policy = parseWitnessPolicy(trust.witnessPolicy);
  } catch (error) {
    problem = reasonOf(error);
  }
  const logIdPromise = sha256(utf8(origin)).then((digest) => digest.subarray(0, 16));
  /** @type {Map<string, Promise<{checks: Check[], receipts: ReceiptReport[]}>>} */
  const blocks = new Map();

  /**
   * The block-level checks of a bundle under one trust, computed once per block and trust.
   * @param {Evidence} evidence @param {"pinned" | "server-keys"} mode @param {Trust} keys
   */
  function blockChecks(evidence, mode, keys) {
    // Everything block-level the bundle carries is in the key, so a bundle with the same header
    // but another signature, checkpoint or receipt is checked anew, never served a cached pass.
    const id = JSON.stringify([mode, b64encode(evidence.header.bytes), b64encode(evidence.signature), evidence.checkpoint, evidence.receipts]);
    let cached = blocks.get(id);
    if (cached === undefined) {
      if (blocks.size >= MAX_CACHED_BLOCKS) blocks.clear();
      cached = runBlockChecks(evidence, keys);
      blocks.set(id, cached);
    }
    return cached;
  }

  /** @param {Evidence} evidence @param {Trust} keys */
  async function runBlockChecks(evidence, keys) {
    const header = evidence.header;
    const shardOrigin = `${origin}/shard/${header.shard}`;
    const signers = await headerSigners(header, evidence.signature, keys.headerKeys);
    const signatureCheck = await check("header-signature", async () => {
      const key = signingKey(header, keys.headerKeys, signers);
      return `signed by ${key.name} (id ${key.keyId})`;
    });
    const logId = await check("log-id", async () => {
      const expected = await logIdPromise;
      if (!equal(header.logId, expected)) {
        throw new VerifyError(`header log_id ${hex(header.logId)} is not ${hex(expected)}, the log_id of ${JSON.stringify(origin)}: the block belongs to another log`);
      }
      return `log_id ${hex(expected)} is the log ${JSON.stringify(origin)}`;
    });
    const checkpoint = await check("checkpoint", () => checkCheckpoint(evidence, keys, shardOrigin));
    /** @type {Check[]} */
    const receiptChecks = [];
    /** @type {ReceiptReport[]} */
    const reports = [];
    /** @type {bigint[]} */
    const attested = [];
    for (const [i, receipt] of evidence.receipts.entries()) {
      const name = `receipt[${i}]:${receipt.type}`;
      try {
        if (receipt.type === TLOG_WITNESS) {
          const outcome = await verifyWitnessReceipt(receipt, header, keys, shardOrigin, policy);
          if (outcome.attestedAt !== null) attested.push(outcome.attestedAt);
          receiptChecks.push({ name, ok: outcome.status === "verified" ? true : null, detail: outcome.detail });
          reports.push({ type: receipt.type, status: outcome.status, detail: outcome.detail });
        } else if (STATEMENT_LINKED.has(receipt.type)) {
          const detail = `${await verifyLink(receipt, header, keys, shardOrigin)}; ${STATEMENT_LINKED.get(receipt.type)}`;
          receiptChecks.push({ name, ok: null, detail });
          reports.push({ type: receipt.type, status: "unchecked", detail });
        } else {
          const detail = `no verifier for receipt type ${JSON.stringify(receipt.type)}`;
          receiptChecks.push({ name, ok: null, detail });
          reports.push({ type: receipt.type, status: "unchecked", detail });
        }
      } catch (error) {
        receiptChecks.push({ name, ok: false, detail: reasonOf(error) });
        reports.push({ type: receipt.type, status: "failed", detail: reasonOf(error) });
      }
    }
    const keyTime = keyTimeCheck(header, signers, attested);
    return { checks: [signatureCheck, keyTime, logId, checkpoint, ...receiptChecks], receipts: reports };
  }

  /** @param {Evidence} evidence @param {Trust} keys @param {string} shardOrigin @returns {Promise<string>} */
  async function checkCheckpoint(evidence, keys, shardOrigin) {
    const header = evidence.header;
    // The shard checkpoint MUST be signed by the very key that signed the header: another trusted
    // key, such as the anchorer's, must not vouch for a tree the block's signer never stated.
    const signers = distinctKeys(keys.headerKeys.filter((k) => k.keyId === header.keyId));
    if (!signers.length) {
      throw new VerifyError(`no trusted key has the header's key id ${header.keyId}, so none may sign its checkpoint (another trusted key must not vouch for a tree the block's signer never stated)`);
    }
    let checkpoint;
    try {
      checkpoint = parseCheckpoint((await openNote(evidence.checkpoint, signers)).note.text);
    } catch (error) {
      throw new VerifyError(`the checkpoint is not signed by the key that signed the header (${signers[0].name}, id ${signers[0].keyId}): ${reasonOf(error)}`);
    }
    if (checkpoint.origin !== shardOrigin) throw new VerifyError(`checkpoint origin ${JSON.stringify(checkpoint.origin)} is not shard ${header.shard} of ${JSON.stringify(origin)}`);
    if (checkpoint.size !== header.treeSize || !equal(checkpoint.root, header.logRoot)) {
      throw new VerifyError(`checkpoint states size ${checkpoint.size} root ${hex(checkpoint.root)}, the header size ${header.treeSize} root ${hex(header.logRoot)}`);
    }
    return `${checkpoint.origin} at size ${checkpoint.size} is signed by the header's key`;
  }

  /**
   * A header's `sealed_at` is the signer's own claim: a block signed by a retired key (its range
   * has an end) MUST be covered by a time a third party attests before that end. Here only a
   * witness quorum under the given policy attests times (RFC 3161 tokens are not read in the
   * browser), so such a block fails unless one covers it.
   * @param {import("./header.js").BlockHeader} header @param {TrustedKey[]} signers @param {bigint[]} attested
   * @returns {Check}
   */
  function keyTimeCheck(header, signers, attested) {
    const inRange = signers.filter((k) => validAt(k, header.sealedAt));
    if (!inRange.length) return { name: "key-time", ok: null, detail: "no trusted key in range signed the header" };
    if (inRange.some((k) => k.validUntil === null)) return { name: "key-time", ok: true, detail: "signed by a key trusted now (open validity range)" };
    const end = inRange.reduce((max, k) => (k.validUntil !== null && k.validUntil > max ? k.validUntil : max), 0n);
    const before = attested.filter((t) => t < end).sort((a, b) => (a < b ? -1 : 1));
    if (!before.length) {
      return {
        name: "key-time", ok: false,
        detail: `key ${JSON.stringify(inRange[0].name)} (id ${header.keyId}) was retired at ${end}; the header's own sealed_at ${header.sealedAt} ` +
          `cannot show it signed before then, since whoever holds a retired key can backdate. Verify the bundle with ` +
          `\`provledger verify --tsa-roots\` (its RFC 3161 time), or give a witness policy whose quorum cosigned before ${end}`,
      };
    }
    return { name: "key-time", ok: true, detail: `key ${JSON.stringify(inRange[0].name)} retired at ${end}; a witness quorum attests the block existed at ${before[0]}` };
  }

  /**
   * The per-event checks: the leaf lies in the block, its inclusion proof, and its event id.
   * With `expected`, the bundle MUST be about that event: a server answering the evidence of one
   * event with a valid bundle of another must not earn the first event a badge.
   * @param {Evidence} evidence @param {string | undefined} expected
   * @returns {Promise<{checks: Check[], event: import("./event.js").CanonicalEvent | null}>}
   */
  async function eventChecks(evidence, expected) {
    const header = evidence.header;
    const inBlock = await check("leaf-in-block", async () => {
      const [shard, size, leaf] = [BigInt(evidence.shard), BigInt(evidence.treeSize), BigInt(evidence.leafIndex)];
      if (shard !== header.shard || size !== header.treeSize) {
        throw new VerifyError(`evidence names shard ${shard} at size ${size}, the header shard ${header.shard} at size ${header.treeSize}`);
      }
      const first = header.treeSize - header.eventCount;
      if (leaf < first || leaf >= header.treeSize) throw new VerifyError(`leaf ${leaf} is not in block ${header.height} (leaves ${first}..${header.treeSize - 1n})`);
      return `leaf ${leaf} is in block ${header.height} of shard ${header.shard}`;
    });
    const inclusion = await check("inclusion", async () => {
      // SPEC: RFC 9162 2.1.1: the leaf hash is SHA-256(0x00 || d), d the canonical event bytes.
      const leaf = await leafHash(evidence.canonical);
      await verifyInclusion(leaf, BigInt(evidence.leafIndex), BigInt(evidence.treeSize), evidence.inclusionProof, header.logRoot);
      return `leaf hash ${hex(leaf)} is leaf ${evidence.leafIndex} under log_root ${hex(header.logRoot)}`;
    });
    /** @type {import("./event.js").CanonicalEvent | null} */
    let event = null;
    const eventId = await check("event-id", async () => {
      try {
        event = decodeCanonicalEvent(evidence.canonical);
      } catch (error) {
        throw new VerifyError(`the canonical bytes are not a provledger event (${reasonOf(error)})`);
      }
      if (event.event_id !== evidence.eventId) throw new VerifyError(`canonical bytes hold event ${event.event_id}, the bundle says ${evidence.eventId}`);
      return `canonical bytes hold event ${event.event_id}`;
    });
    const checks = [inBlock, inclusion, eventId];
    if (expected !== undefined) {
      const held = /** @type {import("./event.js").CanonicalEvent | null} */ (event)?.event_id ?? null;
      checks.push(await check("expected-event", async () => expectedEvent(evidence.eventId, held, expected)));
    }
    return { checks, event };
  }

  /**
   * Check one evidence bundle (parsed JSON, or its text); with `options.eventId`, also that it is
   * the evidence of that event (`provledger verify --event-id`).
   * @param {unknown} bundle
   * @param {{eventId?: string}} [options]
   * @returns {Promise<Verdict>}
   */
  async function verifyBundle(bundle, options = {}) {
    /** @type {Verdict} */
    const verdict = { status: "failed", reason: null, eventId: null, shard: null, height: null, checks: [], receipts: [], event: null, trust: null, blockHash: null };
    try {
      const document = typeof bundle === "string" ? JSON.parse(bundle) : bundle;
      const label = /** @type {any} */ (document)?.event?.event_id;
      verdict.eventId = typeof label === "string" ? label : null;
      if (problem !== null) return fail(verdict, [{ name: "trust", ok: false, detail: problem }]);
      let evidence;
      try {
        evidence = readBundle(document);
      } catch (error) {
        return fail(verdict, [{ name: "bundle", ok: false, detail: reasonOf(error) }]);
      }
      Object.assign(verdict, { shard: Number(evidence.header.shard), height: Number(evidence.header.height) });
      verdict.blockHash = b64encode(await sha256(evidence.header.bytes));
      const parsed = { name: "bundle", ok: true, detail: "provledger-evidence/v1, fields agree with the header bytes" };
      const perEvent = await eventChecks(evidence, options?.eventId);
      verdict.event = perEvent.event;
      /** @type {Array<["pinned" | "server-keys", Trust]>} */
      const modes = [];
      if (pinnedTrust) modes.push(["pinned", pinnedTrust]);
      if (serverTrust) modes.push(["server-keys", serverTrust]);
      for (const [mode, keys] of modes) {
        const block = await blockChecks(evidence, mode, keys);
        const [signature, keyTime, logId, checkpoint, ...receipts] = block.checks;
        const [inBlock, inclusion, ...identity] = perEvent.checks;
        Object.assign(verdict, {
          checks: [parsed, inBlock, inclusion, signature, keyTime, logId, checkpoint, ...identity, ...receipts],
          receipts: block.receipts,
          trust: mode,
        });
        if (!verdict.checks.some((c) => c.ok === false)) {
          return Object.assign(verdict, { status: mode === "pinned" ? "verified" : "server-keys", reason: null });
        }
      }
      return fail(verdict, verdict.checks);
    } catch (error) {
      return fail(verdict, [...verdict.checks, { name: "bundle", ok: false, detail: `the bundle could not be read: ${reasonOf(error)}` }]);
    }
  }

  return {
    verifyBundle,
    /** Why this verifier's trust is unusable (every verdict then fails with it), or null. */
    problem,
    /** The log origin bundles must come from. */
    logOrigin: origin,
    /**
     * An RFC 9162 consistency proof between two checkpoint notes of one shard, each signed by a
     * trusted key (pinned first, else the server's sealer keys); `trust` says whose.
     * @param {unknown} oldCheckpoint @param {unknown} newCheckpoint @param {unknown} proof
     */
    async verifyConsistency(oldCheckpoint, newCheckpoint, proof) {
      if (problem !== null) return { ok: false, reason: problem, trust: null };
      return checkConsistency(oldCheckpoint, newCheckpoint, proof, origin, [
        ...(pinnedTrust ? /** @type {const} */ ([["pinned", pinnedTrust.headerKeys]]) : []),
        ...(serverTrust ? /** @type {const} */ ([["server-keys", serverTrust.headerKeys]]) : []),
      ]);
    },
    /** The number of blocks whose checks are cached (for tests and the page's benchmark). */
    get cachedBlocks() {
      return blocks.size;
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The bundle MUST be about the event the caller asked for (`held`: decoded from the canonical bytes).
 * @param {string} named @param {string | null} held @param {unknown} expected
 * @returns {string}
 */
function expectedEvent(named, held, expected) {
  const wanted = typeof expected === "string" ? expected.toLowerCase() : "";
  if (!UUID.test(wanted)) throw new VerifyError(`the expected event id ${JSON.stringify(expected)} is not a UUID`);
  for (const [what, value] of [["the bundle names", named], ["its canonical bytes hold", held]]) {
    if (value !== null && value.toLowerCase() !== wanted) throw new VerifyError(`${what} event ${JSON.stringify(value)}, not the expected event ${wanted}`);
  }
  return `the bundle is about event ${wanted}`;
}

/** @param {TrustedKey[]} keys @returns {TrustedKey[]} each verifier key once */
function distinctKeys(keys) {
  const seen = new Set();
  return keys.filter((k) => (seen.has(k.vkey) ? false : (seen.add(k.vkey), true)));
}

/** @param {Verdict} verdict @param {Check[]} checks @returns {Verdict} */
function fail(verdict, checks) {
  const first = checks.find((c) => c.ok === false);
  return Object.assign(verdict, { status: "failed", checks, reason: first ? `${first.name}: ${first.detail}` : "failed" });
}
