// What the page trusts, and the browser verification of each drawn edge's evidence.
//
// Trust comes only from the user: the verifier keys they pin (imported from a key file, kept in
// localStorage so they stay on this browser) and the log origin they give (else the one name
// their pinned keys share, as `provledger verify` does). Without pinned keys the best an edge
// gets is "consistent with the server's own keys" (GET /v1/keys), never "verified". Bundles are
// fetched once per event; the verifier caches its results per block.

import { api } from "./api.js";

const PINNED_KEY = "provledger.pinnedKeys";
const ORIGIN_KEY = "provledger.logOrigin";
const CONCURRENCY = 6; // a browser opens at most six HTTP/1.1 connections to one host

/**
 * @typedef {{vkey: string, validFrom: number, validUntil: number | null}} PinnedKey a C2SP
 *   verifier key and its validity range (microseconds; a line-per-key file gives 0 and null)
 * @returns {PinnedKey[]} the pinned keys
 */
export function pinnedKeys() {
  try {
    const keys = JSON.parse(localStorage.getItem(PINNED_KEY) ?? "[]");
    return Array.isArray(keys) ? keys.filter((k) => typeof k?.vkey === "string") : [];
  } catch {
    return [];
  }
}

/** @returns {string} the log origin the user entered, or "" */
export function pinnedOrigin() {
  return localStorage.getItem(ORIGIN_KEY) ?? "";
}

/** @param {string} origin */
export function pinOrigin(origin) {
  if (origin.trim()) localStorage.setItem(ORIGIN_KEY, origin.trim());
  else localStorage.removeItem(ORIGIN_KEY);
}

let verifyModule = null;

/** The in-browser verifier's module (verify/index.js), loaded when first needed. */
async function verifierModule() {
  verifyModule ??= import("./verify/index.js");
  return verifyModule;
}

/**
 * Pin the keys of a key file (one C2SP verifier key a line, or a JSON key set with validity
 * ranges); an unreadable file throws with the verifier's reason and pins nothing.
 * @param {string} text @returns {Promise<PinnedKey[]>}
 */
export async function importKeyFile(text) {
  const { parseVerifierKeys } = await verifierModule();
  const keys = parseVerifierKeys(text).map((k) => ({ vkey: k.vkey, validFrom: k.validFrom, validUntil: k.validUntil }));
  if (keys.length === 0) throw new Error("the file holds no verifier key");
  localStorage.setItem(PINNED_KEY, JSON.stringify(keys));
  return keys;
}

export function forgetPinnedKeys() {
  localStorage.removeItem(PINNED_KEY);
}

/** The name every key shares (C2SP names a log's key after its origin), or "". @param {PinnedKey[]} keys */
function commonName(keys) {
  const names = new Set(keys.map((k) => k.vkey.split("+")[0]));
  return names.size === 1 ? [...names][0] : "";
}

/** What the server says its log is called: the first line of a shard checkpoint, less `/shard/<n>`. */
export async function serverOrigin() {
  // The first shard with a block: a shard no event reached yet has no checkpoint to name the log.
  const shards = await api.getJSON("/v1/shards?limit=100");
  const shard = (shards.items ?? []).find((item) => item?.head)?.shard;
  if (!Number.isInteger(shard)) return "";
  const checkpoint = await api.getText(`/tlog/${shard}/checkpoint`);
  return checkpoint.split("\n", 1)[0].replace(/\/shard\/\d+$/, "");
}

/** Verification of edges: one instance per set of keys (re-made when the user pins others). */
export class EdgeChecks {
  /** @param {{serverKeys: any[], suggestedOrigin: string}} server */
  constructor({ serverKeys, suggestedOrigin }) {
    this.serverKeys = serverKeys;
    this.pinned = pinnedKeys();
    // Trust only the user's origin when they pinned keys; the server's is a suggestion otherwise.
    this.logOrigin = pinnedOrigin() || commonName(this.pinned) || (this.pinned.length ? "" : suggestedOrigin);
    /** @type {Map<string, Promise<any>>} by event id */
    this.bundles = new Map();
    /** @type {Map<string, Promise<any>>} by event id */
    this.results = new Map();
    this.verifier = null;
    this.running = 0;
    this.waiting = [];
  }

  /** @param {string} eventId @param {string} path @returns {Promise<any>} the event's bundle, fetched once */
  bundle(eventId, path) {
    if (!this.bundles.has(eventId)) {
      const fetched = this.limited(() => api.getJSON(path));
      fetched.catch(() => this.bundles.delete(eventId)); // a failed fetch may be retried later
      this.bundles.set(eventId, fetched);
    }
    return this.bundles.get(eventId);
  }

  async limited(task) {
    if (this.running >= CONCURRENCY) await new Promise((resolve) => this.waiting.push(resolve));
    this.running += 1;
    try {
      return await task();
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }

  async ensureVerifier() {
    if (!this.logOrigin) {
      throw new Error("your pinned keys name more than one log: enter the log origin beside them");
    }
    if (!this.verifier) {
      const { createVerifier } = await verifierModule();
      this.verifier = createVerifier({ pinnedKeys: this.pinned, serverKeys: this.serverKeys, logOrigin: this.logOrigin });
    }
    return this.verifier;
  }

  /**
   * The verdict on the event that recorded `edge`: {status, reason, ...} from verifyBundle, or
   * failed with why the bundle could not be had or checked.
   * @param {{recorded: {event_id: string, evidence: string}}} edge
   */
  check(edge) {
    const eventId = edge.recorded.event_id;
    if (!this.results.has(eventId)) {
      this.results.set(eventId, (async () => {
        try {
          const bundle = await this.bundle(eventId, edge.recorded.evidence);
          const verifier = await this.ensureVerifier();
          // As `provledger verify --event-id`: a valid bundle of another event earns this edge nothing.
          return await verifier.verifyBundle(bundle, { eventId });
        } catch (error) {
          return { status: "failed", reason: String(error?.message ?? error) };
        }
      })());
    }
    return this.results.get(eventId);
  }
}
