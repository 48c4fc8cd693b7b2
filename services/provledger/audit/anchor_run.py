"""Drive the anchors' audit: stream the stored statements through :class:`AnchorAudit`, then the topic.

Runs inside the block audit's ``REPEATABLE READ READ ONLY`` transaction (:mod:`.run`), so
statements, heads, blocks and tiles come from one snapshot. Statements come a page at a time
(:func:`provledger.store.audit_reads.stream_statements`); the consistency proofs the pure audit
asks for are read from the stored tiles as the anchorer reads them
(:func:`provledger.store.tiles.consistency_proof`). Then, when a broker is configured, every
record of the checkpoints topic is compared with the database a page at a time: a restored
database has forgotten the statements made after its dump, which only the topic remembers.

Witness cosignatures (:func:`audit_cosignatures`) are rechecked after, in a snapshot of their
own: each row needs only its own checkpoint note, which the foreign key keeps in any snapshot.

Keys: a statement must verify under the user's trusted keys (``--trusted-keys``) when given,
else under the ``anchorer_keys`` table's; in either case never under a block-signing key, which
are the ``signing_keys`` table's and those of the trusted keys that signed a block.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Collection, Mapping
from typing import Final

from provledger.anchor.topic import Published
from provledger.audit.anchors import AnchorAudit, ReceiptCheck, statement_heads
from provledger.audit.cosignatures import CosignatureAudit, CosignatureReport
from provledger.audit.report import AnchorReport
from provledger.errors import VerificationError
from provledger.ledger.cosignature import CosignatureVerifier
from provledger.ledger.keys import KeySet, VerifierKey
from provledger.store import audit_reads, witnessed
from provledger.store.db import Conn
from provledger.store.keys import load_keyset
from provledger.store.tiles import consistency_proof
from provledger.store.unavailable import unavailable_as_service_error

#: Checkpoints-topic records compared per round trip to the database.
PUBLISHED_PAGE: Final = 200

#: ``(offset, statement or why the record is not one)``, as :meth:`CheckpointTopic.history` yields.
PublishedRecords = AsyncIterable[tuple[int, Published | VerificationError]]


async def audit_anchors(
    conn: Conn,
    *,
    trusted_keys: KeySet | None,
    block_key_ids: Collection[bytes],
    checkers: Mapping[str, ReceiptCheck],
    published: PublishedRecords | None,
    progress: Callable[[int, int], None] | None,
    max_listed: int,
) -> AnchorReport | None:
    """Recheck every stored statement and, if given, the published ones; None before the anchor tables exist.

    ``block_key_ids`` are the key ids the audited block headers name (a trusted key with one of
    them is a sealer key). Must run inside the caller's transaction.
    """
    if not await audit_reads.has_table(conn, "anchorer_keys"):
        return None
    audit = await _new_audit(conn, trusted_keys, block_key_ids, checkers, max_listed)
    total, done = await audit_reads.count_statements(conn), 0
    async for statement in audit_reads.stream_statements(conn):
        for check in audit.add_statement(statement):
            try:
                proof = await consistency_proof(conn, check.shard, check.old.tree_size, check.new.tree_size)
            except VerificationError as exc:
                audit.check_consistency(check, exc)
            else:
                audit.check_consistency(check, proof)
        done += 1
        if progress is not None:
            progress(done, total)
    if published is not None:
        audit.published = 0
        page: list[tuple[int, Published | VerificationError]] = []
        async for record in published:
            page.append(record)
            if len(page) == PUBLISHED_PAGE:
                await _compare(conn, audit, page)
                page = []
        await _compare(conn, audit, page)
    return audit.report()


async def audit_cosignatures(
    conn: Conn,
    *,
    trusted: Collection[CosignatureVerifier] | None,
    progress: Callable[[int, int], None] | None,
    max_listed: int,
) -> CosignatureReport | None:
    """Recheck every stored witness cosignature (:class:`CosignatureAudit`); None before the table exists.

    Opens its own ``REPEATABLE READ READ ONLY`` transaction and streams the rows from a cursor.
    """
    with unavailable_as_service_error("cannot finish auditing the witness cosignatures"):
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if not await audit_reads.has_table(conn, "checkpoint_cosignatures"):
                return None
            audit = CosignatureAudit(trusted, max_listed)
            total, done = await witnessed.count_cosignatures(conn), 0
            async for row in witnessed.stream_cosignatures(conn):
                audit.add(row)
                done += 1
                if progress is not None:
                    progress(done, total)
    return audit.report()


async def _new_audit(
    conn: Conn,
    trusted_keys: KeySet | None,
    block_key_ids: Collection[bytes],
    checkers: Mapping[str, ReceiptCheck],
    max_listed: int,
) -> AnchorAudit:
    try:
        sealers = list((await load_keyset(conn)).verifiers())
    except VerificationError:
        sealers = []  # no signing_keys at all: the block audit reports that
    unreadable: list[str] = []
    if trusted_keys is not None:
        candidates = list(trusted_keys.verifiers())
        sealers += [key for key in candidates if key.key_id in block_key_ids]
    else:
        candidates = []
        for text in await audit_reads.anchorer_keys(conn):
            try:
                candidates.append(VerifierKey.parse(text))
            except (ValueError, VerificationError) as exc:
                unreadable.append(f"the anchorer_keys row {text!r} is not a verifier key: {exc}")
    audit = AnchorAudit(candidates, sealers, checkers, max_listed)
    for detail in unreadable:
        audit.record("statement_signature", None, None, detail)
    return audit


async def _compare(
    conn: Conn, audit: AnchorAudit, page: list[tuple[int, Published | VerificationError]]
) -> None:
    """Compare a page of published records with the stored statements and blocks, in two queries."""
    statements = [(offset, item) for offset, item in page if isinstance(item, Published)]
    stored = await audit_reads.statement_notes(conn, [item.seq for _, item in statements])
    places = {
        (head.shard, head.height)
        for _, item in statements
        if stored.get(item.seq) != item.note
        for head in statement_heads(item.note)
    }
    blocks = await audit_reads.blocks_at(conn, sorted(places)) if places else {}
    for offset, item in page:
        if isinstance(item, VerificationError):
            audit.add_published(offset, item, None, blocks)
        else:
            audit.add_published(offset, (item.seq, item.note), stored.get(item.seq), blocks)
