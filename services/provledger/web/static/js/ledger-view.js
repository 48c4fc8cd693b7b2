// The ledger view: shards and their heads, blocks, checkpoints with their witnesses, anchors with
// their receipts, and keys with their ranges; and, on every visit, proof that each shard's log
// still extends the one this browser saw last time.
//
// A returning user is the one who can notice a rewritten log: the page keeps each shard's last
// checkpoint it saw (local storage), fetches an RFC 9162 consistency proof from that size to the
// current one and checks it with the page's verifier (`verifyConsistency`, signatures and proof),
// so a server that rewrote history cannot show this browser its new log without the view saying
// so. SPEC: RFC 9162 section 2.1.4: a consistency proof shows "that the first tree is a prefix of
// the second", which is what an append-only log must give to anyone holding an older checkpoint.
// A checkpoint is remembered only after it verified, and a failure keeps the old one, so the
// failure is shown again on the next visit instead of being papered over.
//
// Everything from the server is put in the page as text nodes (never as HTML).

import { b64encode, uintBE } from "./verify/bytes.js";
import { createVerifier } from "./verify/index.js";
import { parseCheckpoint, parseNote } from "./verify/note.js";

/**
 * @typedef {{getJSON(path: string): Promise<any>, getText(path: string): Promise<string>}} Api
 * @typedef {{name: string, keyId: string, kind: "signature" | "cosignature" | "other", time: Date | null}} NoteSignature
 * @typedef {{origin: string, size: number, root: string, signatures: NoteSignature[]}} CheckpointNote
 * @typedef {{ok: boolean, reason?: string | null, trust?: "pinned" | "server-keys" | null}} ConsistencyResult
 * @typedef {{verifyConsistency(oldText: string, newText: string, proof: string[]): Promise<ConsistencyResult>}} ConsistencyVerifier
 * @typedef {{state: "remembered" | "consistent" | "failed" | "unchecked", message: string}} ShardCheck
 * @typedef {string | {vkey: string}} PinnedKey  a C2SP verifier key, alone or with its range
 * @typedef {{pinnedKeys?: PinnedKey[], logOrigin?: string, storage?: Storage}} LedgerViewOptions
 */

/** Where the last checkpoint seen of each shard is kept: `{"<shard>": "<signed note>"}`. */
export const STORAGE_KEY = "provledger.ledger-view.checkpoints.v1";
const SHARD = /^(0|[1-9][0-9]{0,9})$/;
const MAX_PAGES = 20; // lists are followed this many pages at most: 20,000 shards or keys
const ED25519_SIGNATURE = 64;
const COSIGNATURE = 8 + ED25519_SIGNATURE;

/**
 * The parts of a C2SP signed-note checkpoint the view shows; throws (with the reason) on anything
 * else, parsed strictly by the verifier's own note reader.
 * SPEC: C2SP tlog-cosignature: an Ed25519 cosignature is "u64 timestamp || ed25519_signature[64]",
 * the timestamp big-endian POSIX seconds; a log's own note signature is the 64 bytes alone.
 * @param {string} note @returns {CheckpointNote}
 */
export function parseCheckpointNote(note) {
  const { text, signatures } = parseNote(note);
  const { origin, size, root } = parseCheckpoint(text);
  return {
    origin,
    size: Number(size),
    root: b64encode(root),
    signatures: signatures.map(({ name, keyId, signature }) => {
      if (signature.length === ED25519_SIGNATURE) return { name, keyId, kind: "signature", time: null };
      if (signature.length !== COSIGNATURE) return { name, keyId, kind: "other", time: null };
      const seconds = Number(uintBE(signature.subarray(0, 8)));
      return { name, keyId, kind: "cosignature", time: seconds < 8.64e12 ? new Date(seconds * 1000) : null };
    }),
  };
}

/** @param {Storage} storage @returns {Record<string, string>} the remembered checkpoints, garbage dropped */
export function rememberedCheckpoints(storage) {
  try {
    const found = JSON.parse(storage.getItem(STORAGE_KEY) ?? "{}");
    if (found === null || typeof found !== "object" || Array.isArray(found)) return {};
    return Object.fromEntries(Object.entries(found).filter(([k, v]) => SHARD.test(k) && typeof v === "string"));
  } catch {
    return {};
  }
}

/** @param {Storage} storage @param {number} shard @param {string} note */
function remember(storage, shard, note) {
  storage.setItem(STORAGE_KEY, JSON.stringify({ ...rememberedCheckpoints(storage), [shard]: note }));
}

/**
 * Check that the shard's current checkpoint extends the one remembered, and remember it if so.
 * @param {{shard: number, current: string, api: Api, verifier: ConsistencyVerifier, storage: Storage}} args
 *   current: the shard's checkpoint as `/tlog/<shard>/checkpoint` serves it now
 * @returns {Promise<ShardCheck>}
 */
export async function checkShard({ shard, current, api, verifier, storage }) {
  const { size: newSize, origin } = parseCheckpointNote(current);
  const old = rememberedCheckpoints(storage)[shard];
  const seen = old === undefined ? null : readableNote(old);
  if (seen === null) {
    // A first visit (or a note this browser kept that cannot be read): only the signature to check.
    const alone = await verifier.verifyConsistency(current, current, []);
    if (!alone.ok) return { state: "failed", message: `the current checkpoint does not verify: ${alone.reason}` };
    remember(storage, shard, current);
    const note = old === undefined ? "" : "; the one kept here was unreadable";
    return { state: "remembered", message: `remembered (size ${newSize}${signer(alone)})${note}: the next visit checks the log only grew` };
  }
  const oldSize = seen.size;
  if (seen.origin !== origin) {
    return { state: "failed", message: `ANOTHER LOG: shard ${shard} was ${seen.origin} on your last visit, now ${origin}` };
  }
  if (newSize < oldSize) {
    return { state: "failed", message: `REWRITTEN LOG: it shrank from size ${oldSize} to ${newSize} since your last visit` };
  }
  const answer = await api.getJSON(`/v1/shards/${shard}/consistency?from=${oldSize}&to=${newSize}`);
  const proof = answer?.proof;
  const result = Array.isArray(proof) && proof.every((h) => typeof h === "string")
    ? await verifier.verifyConsistency(old, current, proof)
    : { ok: false, reason: "the server's consistency answer holds no proof" };
  if (!result.ok) {
    return { state: "failed", message: `REWRITTEN LOG: size ${oldSize} -> ${newSize} is not consistent: ${result.reason}` };
  }
  remember(storage, shard, current);
  return { state: "consistent", message: `consistent since your last visit (size ${oldSize} -> ${newSize})${signer(result)}` };
}

/** @param {string} note @returns {CheckpointNote | null} */
function readableNote(note) {
  try {
    return parseCheckpointNote(note);
  } catch {
    return null;
  }
}

/** @param {ConsistencyResult} result @returns {string} whose keys vouched for the checkpoints */
function signer(result) {
  if (result.trust === "pinned") return ", signed by your pinned keys";
  return result.trust === "server-keys" ? ", signed by the server's own keys" : "";
}

/**
 * @param {string} tag @param {Record<string, string>} [attributes] @param {...(Node | string)} children
 * @returns {HTMLElement} an element whose strings are text nodes, so nothing the server says becomes markup
 */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** @param {string[]} headings @param {Array<Array<Node | string>>} rows @returns {HTMLElement} */
function table(headings, rows) {
  return el("table", { class: "ledger-table" },
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))));
}

/** @param {unknown} value @returns {string} */
const text = (value) => (value === null || value === undefined ? "" : String(value));
/** @param {unknown} hash @returns {string} a base64 hash cut to what a person compares */
const short = (hash) => (typeof hash === "string" && hash.length > 16 ? `${hash.slice(0, 16)}\u2026` : text(hash));
/** @param {number} micros @returns {string} */
const microsTime = (micros) => (Number.isFinite(micros) ? new Date(micros / 1000).toISOString() : "");

/**
 * Every item of a paged list, following `next_cursor` for at most MAX_PAGES pages.
 * @param {Api} api @param {string} path @returns {Promise<any[]>}
 */
async function allItems(api, path) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const body = await api.getJSON(cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`);
    items.push(...(Array.isArray(body?.items) ? body.items : []));
    cursor = typeof body?.next_cursor === "string" ? body.next_cursor : null;
    if (cursor === null) break;
  }
  return items;
}

/**
 * A list shown a page at a time, with a button for the next page.
 * @param {Api} api @param {string} path @param {(items: any[]) => Node} render
 * @param {string} more  the button's label @returns {HTMLElement}
 */
function pagedList(api, path, render, more) {
  const box = el("div", { class: "ledger-paged" });
  const button = el("button", { type: "button" }, more);
  /** @param {string | null} cursor */
  const load = async (cursor) => {
    button.remove();
    const sep = path.includes("?") ? "&" : "?";
    try {
      const body = await api.getJSON(cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`);
      box.append(render(Array.isArray(body?.items) ? body.items : []));
      if (typeof body?.next_cursor === "string") {
        button.onclick = () => load(body.next_cursor);
        box.append(button);
      }
    } catch (error) {
      box.append(el("p", { class: "ledger-error" }, `could not read ${path}: ${text(/** @type {Error} */ (error).message)}`));
    }
  };
  load(null);
  return box;
}

/** @param {any[]} blocks @returns {Node} */
const blockRows = (blocks) => table(["height", "tree size", "events", "sealed at", "key id", "block hash"],
  blocks.map((b) => [text(b.height), text(b.tree_size), text(b.event_count), microsTime(b.sealed_at), text(b.key_id), short(b.block_hash)]));

/**
 * A checkpoint's signers: the log's signature and each witness's cosignature with its time.
 * @param {CheckpointNote} note @param {Set<string>} pinned  "name+keyid" of pinned keys @returns {Node}
 */
function signatureRows(note, pinned) {
  return table(["signer", "key id", "kind", "cosigned at", "key"], note.signatures.map((s) => [
    s.name, s.keyId, s.kind === "cosignature" ? "witness cosignature" : s.kind === "signature" ? "log signature" : "unknown",
    s.time ? s.time.toISOString() : "", pinned.has(`${s.name}+${s.keyId}`) ? "pinned by you" : "not pinned"]));
}

/**
 * One shard's row of details: its current checkpoint with its witnesses, and its blocks.
 * @param {Api} api @param {any} shard @param {string | null} note @param {Set<string>} pinned
 */
function shardDetails(api, shard, note, pinned) {
  const details = el("details", { class: "ledger-shard", "data-shard": text(shard.shard) },
    el("summary", {}, `shard ${text(shard.shard)}: blocks and checkpoint`));
  if (note !== null) {
    try {
      const parsed = parseCheckpointNote(note);
      details.append(el("h4", {}, `checkpoint ${parsed.origin}, size ${parsed.size}, root ${short(parsed.root)}`),
        signatureRows(parsed, pinned));
    } catch (error) {
      details.append(el("p", { class: "ledger-error" }, `unreadable checkpoint: ${text(/** @type {Error} */ (error).message)}`));
    }
  }
  let opened = false;
  details.addEventListener("toggle", () => {
    if (opened || !details.open) return;
    opened = true;
    details.append(el("h4", {}, "blocks"), pagedList(api, `/v1/shards/${shard.shard}/blocks?limit=20`, blockRows, "more blocks"));
  });
  return details;
}

/**
 * An RFC 3161 token's stated time, found as the GeneralizedTime its TSTInfo carries; shown, not
 * trusted (the browser does not check tokens: `provledger verify --tsa-roots` does).
 * @param {string} der64 @returns {string}
 */
export function statedTokenTime(der64) {
  let bytes;
  try {
    bytes = atob(der64);
  } catch {
    return "";
  }
  for (let i = 0; i + 2 < bytes.length; i += 1) {
    const length = bytes.charCodeAt(i + 1);
    if (bytes.charCodeAt(i) !== 0x18 || length < 15 || length > 30) continue;
    const value = bytes.slice(i + 2, i + 2 + length);
    const match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?Z$/.exec(value);
    if (match) return `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}${match[7] ?? ""}Z`;
  }
  return "";
}

/** @param {any} receipt @returns {string} what a receipt says about when, for the anchors table */
function receiptTimes(receipt) {
  if (receipt?.type === "rfc3161" && Array.isArray(receipt.responses)) {
    const times = receipt.responses.map((r) => (typeof r === "string" ? statedTokenTime(r) : "")).filter(Boolean);
    return `token time ${times.join(", ") || "unreadable"} (checked by provledger verify --tsa-roots, not here)`;
  }
  if (typeof receipt?.checkpoint === "string") {
    try {
      const cosigned = parseCheckpointNote(receipt.checkpoint).signatures.filter((s) => s.kind === "cosignature");
      return cosigned.map((s) => `${s.name} at ${s.time?.toISOString() ?? "?"}`).join("; ") || "no cosignature";
    } catch {
      return "unreadable checkpoint";
    }
  }
  const scalars = Object.entries(receipt ?? {}).filter(([k, v]) => k !== "type" && ["string", "number"].includes(typeof v));
  return scalars.slice(0, 4).map(([k, v]) => `${k} ${short(String(v))}`).join(", ");
}

/** @param {Api} api @param {any[]} statements @returns {Node} */
function statementRows(api, statements) {
  return table(["seq", "signed at", "origin", "shards", "receipts", ""], statements.map((s) => {
    const receipts = el("div", { class: "ledger-receipts" });
    const button = el("button", { type: "button" }, "receipts");
    button.onclick = async () => {
      button.remove();
      try {
        const detail = await api.getJSON(`/v1/anchors/${encodeURIComponent(text(s.seq))}`);
        receipts.append(table(["kind", "times"], (Array.isArray(detail?.receipts) ? detail.receipts : [])
          .map((/** @type {any} */ r) => [text(r?.type), receiptTimes(r)])));
      } catch (error) {
        receipts.append(el("p", { class: "ledger-error" }, text(/** @type {Error} */ (error).message)));
      }
    };
    const kinds = Array.isArray(s.receipt_kinds) ? s.receipt_kinds.map(text).join(", ") : "";
    return [text(s.seq), text(s.created_at), text(s.origin), text(s.shard_count), kinds || "none yet", el("div", {}, button, receipts)];
  }));
}

/** @param {any[]} keys @param {Set<string>} pinned @returns {Node} */
function keyRows(keys, pinned) {
  return table(["role", "name", "key id", "valid from", "valid until", "verifier key", ""], keys.map((k) => [
    text(k.role), text(k.name), text(k.key_id), text(k.valid_from), k.valid_until ? text(k.valid_until) : "now (current)",
    el("code", {}, text(k.verifier_key)), pinned.has(`${text(k.name)}+${text(k.key_id)}`) ? "pinned by you" : "not pinned"]));
}

/** @param {Map<string, {name: string, keyId: string, time: Date | null, shards: Set<string>}>} seen @param {Set<string>} pinned */
function witnessRows(seen, pinned) {
  if (seen.size === 0) return el("p", {}, "No witness has cosigned a current checkpoint yet.");
  return table(["witness", "key id", "latest cosignature", "shards", ""], [...seen.values()].map((w) => [
    w.name, w.keyId, w.time?.toISOString() ?? "", [...w.shards].join(", "), pinned.has(`${w.name}+${w.keyId}`) ? "pinned by you" : "not pinned"]));
}

/** @param {PinnedKey[]} pinnedKeys @returns {Set<string>} "name+keyid" of each pinned verifier key */
function pinnedIds(pinnedKeys) {
  const vkeys = pinnedKeys.map((k) => text(typeof k === "string" ? k : k?.vkey));
  return new Set(vkeys.map((k) => /^([^\s+]+\+[0-9a-f]{8})\+/.exec(k)?.[1]).filter((k) => k !== undefined));
}

/**
 * The ledger's log origin: the one the page was given, else the first checkpoint's origin without
 * `/shard/<n>` (key names need not be the origin: the demo's sealer key is named `provledger`).
 * The remembered checkpoints pin it in turn: a later origin that differs fails their check.
 * @param {LedgerViewOptions} options @param {string[]} notes @returns {string}
 */
function logOriginOf(options, notes) {
  if (options.logOrigin) return options.logOrigin;
  for (const note of notes) {
    const origin = /^(.+)\/shard\/\d+$/.exec(note.split("\n", 1)[0]);
    if (origin) return origin[1];
  }
  return "";
}

/**
 * Fill `element` with the ledger view and check each shard's consistency since the last visit.
 * Trust is the page's (`trust.js`: the keys the user pinned, the log origin they entered) unless
 * `options` names it.
 * @param {HTMLElement} element @param {Api} api  the page's fetch wrapper (with its token)
 * @param {LedgerViewOptions} [options]  pinnedKeys, logOrigin: the trust to use; storage: local storage
 * @returns {Promise<{checks: Map<number, ShardCheck>}>}
 */
export async function mountLedgerView(element, api, options = {}) {
  addStylesheet();
  const storage = options.storage ?? window.localStorage;
  const page = await import("./trust.js");
  const pinnedKeys = options.pinnedKeys ?? page.pinnedKeys();
  const pinned = pinnedIds(pinnedKeys);
  const alerts = el("div", { class: "ledger-alerts", role: "alert" });
  element.replaceChildren(alerts, el("p", { class: "ledger-loading" }, "reading the ledger\u2026"));
  /** @type {Map<number, ShardCheck>} */
  const checks = new Map();
  let shards, keys;
  try {
    [shards, keys] = await Promise.all([allItems(api, "/v1/shards?limit=1000"), allItems(api, "/v1/keys?limit=1000")]);
  } catch (error) {
    element.replaceChildren(
      el("p", { class: "ledger-error" }, `could not read the ledger: ${text(/** @type {Error} */ (error).message)}`));
    return { checks };
  }
  // A shard number goes into request paths: anything but a non-negative integer is dropped.
  shards = shards.filter((s) => Number.isSafeInteger(s?.shard) && s.shard >= 0);
  const withHead = shards.filter((s) => s.head);
  const notes = await Promise.all(withHead.map((s) => api.getText(`/tlog/${s.shard}/checkpoint`).catch(() => null)));
  const verifier = createVerifier({ pinnedKeys, serverKeys: keys, logOrigin: logOriginOf({ logOrigin: page.pinnedOrigin(), ...options }, notes.filter((n) => n !== null)) });
  const trust = pinnedKeys.length > 0 ? "against the keys you pinned" : "against the server's own keys (you pinned none)";

  /** @type {Map<string, {name: string, keyId: string, time: Date | null, shards: Set<string>}>} */
  const witnesses = new Map();
  const shardRows = shards.map((s) => {
    const index = withHead.indexOf(s);
    const note = index < 0 ? null : notes[index];
    if (note !== null) {
      try {
        for (const sig of parseCheckpointNote(note).signatures.filter((x) => x.kind === "cosignature")) {
          const w = witnesses.get(`${sig.name}+${sig.keyId}`) ?? { ...sig, shards: new Set() };
          w.shards.add(text(s.shard));
          if (sig.time && (!w.time || sig.time > w.time)) w.time = sig.time;
          witnesses.set(`${sig.name}+${sig.keyId}`, w);
        }
      } catch { /* shown as unreadable in the shard's details */ }
    }
    const status = el("span", { class: "ledger-consistency", "data-shard": text(s?.shard), "data-consistency": s?.head ? "checking" : "empty" },
      s?.head ? "checking\u2026" : "no blocks yet");
    return { shard: s, note, status };
  });
  element.replaceChildren(alerts,
    el("h3", {}, "Shards"),
    el("p", {}, `Consistency with your last visit is checked ${trust}.`),
    table(["shard", "topic / partition", "height", "tree size", "sealed at", "log root", "since your last visit"],
      shardRows.map(({ shard: s, status }) => [text(s.shard), `${text(s.topic)} / ${text(s.partition)}`,
        text(s.head?.height), text(s.head?.tree_size), text(s.head?.sealed_at), short(s.head?.log_root), status])),
    el("div", {}, ...shardRows.map(({ shard: s, note }) => shardDetails(api, s, note, pinned))),
    el("h3", {}, "Witnesses"), witnessRows(witnesses, pinned),
    el("h3", {}, "Anchors"), pagedList(api, "/v1/anchors", (items) => statementRows(api, items), "older statements"),
    el("h3", {}, "Keys"), keyRows(keys, pinned));

  await Promise.all(shardRows.filter((r) => r.shard?.head).map(async ({ shard: s, note, status }) => {
    let check;
    try {
      if (note === null) throw new Error(`/tlog/${s.shard}/checkpoint did not answer`);
      check = await checkShard({ shard: s.shard, current: note, api, verifier, storage });
    } catch (error) {
      check = { state: "unchecked", message: `not checked: ${text(/** @type {Error} */ (error).message)}` };
    }
    checks.set(s.shard, /** @type {ShardCheck} */ (check));
    status.dataset.consistency = check.state;
    status.textContent = check.message;
    if (check.state === "failed") alerts.append(el("p", { class: "ledger-alert" }, `Shard ${text(s.shard)}: ${check.message}`));
  }));
  return { checks };
}

/** Link the view's stylesheet once, beside this module, whatever page mounts it. */
function addStylesheet() {
  const href = new URL("../css/ledger-view.css", import.meta.url).href;
  const linked = [...document.querySelectorAll("link[rel=stylesheet]")].some((l) => /** @type {HTMLLinkElement} */ (l).href === href);
  if (!linked) document.head.append(el("link", { rel: "stylesheet", href }));
}
