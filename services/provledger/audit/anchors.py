"""The pure audit of the anchorer's statements: fed them in ``seq`` order, it rechecks each one.

For every stored statement (issue 17: "``provledger audit`` checks every statement's signature,
every stored receipt, and that each shard's sequence of anchored heads is consistent"):

* its signed note verifies under an anchorer key and under no block-signing key (ARCHITECTURE.md
  section 3: the anchorer signs "with its own key (never the sealer's)");
* its text is a shard-heads checkpoint whose origin, size and root are its row's, and whose
  heads are exactly its ``checkpoint_heads`` rows;
* each head names a stored block with that hash, tree size and log root;
* per shard, each anchored head is at or above the one before, never another block at the
  same height, and extends it: SPEC RFC 9162 2.1.4.2, "verify that [the computed] fr is equal
  to first_hash [and] sr is equal to second_hash", with a proof the driver reads from the stored
  tiles (:class:`ConsistencyCheck`, :func:`provledger.ledger.merkle.verify_consistency`);
* every receipt anchors exactly the stored note, and checks with its kind's verifier when the
  user gave what that needs (``--tsa-roots`` for ``rfc3161``); otherwise it is counted as
  unchecked, never as passed.

Statements read back from the checkpoints topic (:meth:`AnchorAudit.add_published`) catch what the
database alone cannot show: a database restored from a dump has forgotten the statements made
after it, so it may look consistent. A published statement the database lacks or holds
differently is named, and so is each shard whose stored block differs from the published head.

No I/O: :mod:`provledger.audit.anchor_run` streams rows in and reads the proofs asked for.

    >>> from provledger.store.audit_reads import AuditedStatement
    >>> audit = AnchorAudit([], [], {}, max_listed=10)
    >>> audit.add_statement(AuditedStatement(1, "o", 0, bytes(32), "not a note", (), ()))
    []
    >>> sorted(audit.report().counts)
    ['statement_signature', 'statement_text']
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from provledger.audit.report import AnchorMismatch, AnchorReport, CappedLog
from provledger.errors import VerificationError
from provledger.ledger.checkpoint import Checkpoint, ShardHead, shard_heads
from provledger.ledger.evidence import Receipt
from provledger.ledger.keys import VerifierKey
from provledger.ledger.merkle import verify_consistency
from provledger.ledger.note import open_note, parse_note
from provledger.store.audit_reads import AuditedStatement, BlockRef, StoredHead, StoredReceipt

#: Checks a stored receipt offline, given the number of the statement it anchors (an evm log names
#: it); returns what it proves, raises VerificationError if it does not hold.
ReceiptCheck = Callable[[Receipt, int], str]


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _describe(head: StoredHead) -> str:
    return f"height {head.height} (tree size {head.tree_size}, root {_b64(head.log_root)})"


@dataclass(frozen=True, slots=True)
class ConsistencyCheck:
    """A consistency proof the driver must read from the stored tiles, from ``old`` to ``new``."""

    seq: int
    old_seq: int
    shard: int
    old: StoredHead
    new: StoredHead


def statement_heads(note: str) -> tuple[ShardHead, ...]:
    """The heads a statement's text names, or none when it is not a shard-heads statement."""
    try:
        return shard_heads(Checkpoint.parse(parse_note(note).text))
    except VerificationError:
        return ()


class AnchorAudit:
    """Accumulates the anchors' audit; one instance per run, statements in ``seq`` order.

    ``anchorer_keys`` are the keys a statement may be signed by; any of them whose public key is
    among ``sealer_keys`` is left out, and a statement that verifies under a sealer key is a
    mismatch of its own. ``checkers`` maps a receipt kind to its offline check;
    ``statement_kinds`` are the kinds whose receipts MUST carry the statement they anchor.
    """

    def __init__(
        self,
        anchorer_keys: Iterable[VerifierKey],
        sealer_keys: Iterable[VerifierKey],
        checkers: Mapping[str, ReceiptCheck],
        max_listed: int,
        statement_kinds: Iterable[str] = ("rfc3161",),
    ) -> None:
        self._sealers = tuple(sealer_keys)
        sealer_public = {key.public_key for key in self._sealers}
        self._verifiers = tuple(key for key in anchorer_keys if key.public_key not in sealer_public)
        self._checkers = checkers
        self._statement_kinds = frozenset(statement_kinds)
        self._log: CappedLog[AnchorMismatch] = CappedLog(max_listed)
        self._last: dict[int, tuple[int, StoredHead]] = {}
        self.statements = 0
        self.checked: Counter[str] = Counter()
        self.unchecked: Counter[str] = Counter()
        self.published: int | None = None

    def record(self, kind: str, seq: int | None, shard: int | None, detail: str) -> None:
        """A mismatch found outside the statements themselves (an unreadable anchorer key row)."""
        self._log.add(AnchorMismatch(kind, seq, shard, detail))

    def add_statement(self, statement: AuditedStatement) -> list[ConsistencyCheck]:
        """Check one stored statement; return the consistency proofs its moved heads need."""
        self.statements += 1
        opened = self._open(statement.seq, statement.note, "")
        if opened is not None:
            self._check_row(statement, opened)
        for head in statement.heads:
            self._check_block(statement.seq, head)
        for receipt in statement.receipts:
            self._check_receipt(statement, receipt)
        return self._follow(statement)

    def _open(self, seq: int, note: str, where: str) -> Checkpoint | None:
        """Check the note's signatures; parse its text (even when unsigned, to go on checking)."""
        if self._sealers:
            try:
                opened = open_note(note, self._sealers)
            except VerificationError:
                pass
            else:
                signer = opened.verified[0]
                self.record(
                    "statement_sealer_key",
                    seq,
                    None,
                    f"{where}signed by the block-signing key "
                    f"{signer.name} (id {signer.key_id.hex()}): a stolen sealer key could forge it",
                )
        if not self._verifiers:
            self.record(
                "statement_signature",
                seq,
                None,
                f"{where}no anchorer key to verify it with (the "
                "anchorer_keys table is empty; give the anchorer's key with --trusted-keys)",
            )
        else:
            try:
                open_note(note, self._verifiers)
            except VerificationError as exc:
                self.record("statement_signature", seq, None, f"{where}{exc}")
        try:
            checkpoint = Checkpoint.parse(parse_note(note).text)
            shard_heads(checkpoint)
        except VerificationError as exc:
            self.record("statement_text", seq, None, f"{where}not a shard-heads statement: {exc}")
            return None
        return checkpoint

    def _check_row(self, statement: AuditedStatement, checkpoint: Checkpoint) -> None:
        seq = statement.seq
        differing = [
            name
            for name, bad in (
                ("origin", statement.origin != checkpoint.origin),
                ("shard_count", statement.shard_count != checkpoint.size),
                ("root", statement.root != checkpoint.root),
            )
            if bad
        ]
        if differing:
            self.record(
                "statement_text",
                seq,
                None,
                f"the checkpoints row's {', '.join(differing)} differ from the signed text",
            )
        stated = {head.shard: head for head in shard_heads(checkpoint)}
        stored = {head.shard: head.head() for head in _heads(statement.heads)}
        for shard in sorted(set(stated) | set(stored)):
            said, kept = stated.get(shard), stored.get(shard)
            if said != kept:
                self.record(
                    "statement_heads",
                    seq,
                    shard,
                    f"the signed note names {_shard_head(said)}, "
                    f"its checkpoint_heads row {_shard_head(kept)}",
                )

    def _check_block(self, seq: int, head: StoredHead) -> None:
        block, shard = head.block, head.shard
        if block is None:
            self.record(
                "anchored_block",
                seq,
                shard,
                f"the statement anchors block {head.height}, which is not stored",
            )
            return
        if block.block_hash != head.block_hash:
            self.record(
                "anchored_block",
                seq,
                shard,
                f"the statement anchors block {head.height} with hash "
                f"{_b64(head.block_hash)}; the stored block has hash {_b64(block.block_hash)}",
            )
        if (block.tree_size, block.log_root) != (head.tree_size, head.log_root):
            self.record(
                "anchored_block",
                seq,
                shard,
                f"the statement's row gives block {_describe(head)}; the "
                f"stored block has tree size {block.tree_size}, root {_b64(block.log_root)}",
            )

    def _check_receipt(self, statement: AuditedStatement, receipt: StoredReceipt) -> None:
        seq, kind = statement.seq, receipt.kind
        if isinstance(receipt.fields, str):
            self.record("receipt", seq, None, f"the {kind} receipt is not a JSON object")
            return
        anchored = receipt.fields.get("statement")
        if (anchored is None and kind in self._statement_kinds) or (
            anchored is not None and anchored != statement.note
        ):
            self.record(
                "receipt_statement",
                seq,
                None,
                f"the {kind} receipt anchors another text than the "
                "stored statement: it proves nothing about this one",
            )
        check = self._checkers.get(kind)
        if check is None:
            self.unchecked[kind] += 1
            return
        try:
            check(Receipt(kind, receipt.fields), seq)
        except VerificationError as exc:
            self.record("receipt", seq, None, f"the {kind} receipt does not verify: {exc}")
            return
        self.checked[kind] += 1

    def _follow(self, statement: AuditedStatement) -> list[ConsistencyCheck]:
        """Compare each head with the shard's previous anchored head; ask for proofs where it grew."""
        seq, checks = statement.seq, []
        named = {head.shard for head in statement.heads}
        for shard in sorted(set(self._last) - named):
            before_seq, before = self._last.pop(shard)
            self.record(
                "anchored_fork",
                seq,
                shard,
                f"the statement names no head for the shard; statement "
                f"{before_seq} anchored it at {_describe(before)}",
            )
        for head in _heads(statement.heads):
            previous = self._last.get(head.shard)
            self._last[head.shard] = (seq, head)
            if previous is None:
                continue
            before_seq, before = previous
            against = (
                f"statement {before_seq} anchored {_describe(before)}, statement {seq} {_describe(head)}"
            )
            if head.height < before.height:
                self.record("anchored_fork", seq, head.shard, f"the anchored head went down: {against}")
            elif head.height == before.height:
                if (head.block_hash, head.tree_size, head.log_root) != (
                    before.block_hash,
                    before.tree_size,
                    before.log_root,
                ):
                    self.record(
                        "anchored_fork", seq, head.shard, f"another block at the same height: {against}"
                    )
            elif head.tree_size < before.tree_size:
                self.record("anchored_fork", seq, head.shard, f"the anchored tree shrank: {against}")
            elif head.tree_size == before.tree_size:
                if head.log_root != before.log_root:
                    self.record("anchored_fork", seq, head.shard, f"same tree size, another root: {against}")
            else:
                checks.append(ConsistencyCheck(seq, before_seq, head.shard, before, head))
        return checks

    def check_consistency(self, check: ConsistencyCheck, proof: Sequence[bytes] | VerificationError) -> None:
        """Verify the proof the driver read for ``check`` (or the reason it could not read one)."""
        try:
            if isinstance(proof, VerificationError):
                raise proof
            verify_consistency(
                check.old.tree_size, check.new.tree_size, check.old.log_root, check.new.log_root, proof
            )
        except VerificationError as exc:
            self.record(
                "anchored_fork",
                check.seq,
                check.shard,
                f"statement {check.old_seq} anchored "
                f"{_describe(check.old)}, statement {check.seq} {_describe(check.new)}, and the "
                f"later does not extend the earlier: {exc}",
            )

    def add_published(
        self,
        offset: int,
        published: tuple[int, str] | VerificationError,
        stored_note: str | None,
        blocks: Mapping[tuple[int, int], BlockRef],
    ) -> None:
        """Compare one checkpoints-topic record with the database.

        ``published`` is ``(seq, note)`` or why the record is not a statement; ``stored_note`` is
        the database's statement of that number (None if it has none); ``blocks`` holds the
        stored blocks at the places the published note's heads name (absent: no such block).
        """
        self.published = (self.published or 0) + 1
        if isinstance(published, VerificationError):
            self.record("published_record", None, None, f"checkpoints topic offset {offset}: {published}")
            return
        seq, note = published
        if stored_note == note:
            return  # the stored statement's own checks cover it
        if stored_note is None:
            self.record(
                "published_missing",
                seq,
                None,
                f"statement {seq} was published (checkpoints topic "
                f"offset {offset}) but the database has no such statement: it was restored from a "
                "backup or rewritten",
            )
        else:
            self.record(
                "published_differs",
                seq,
                None,
                f"the database's statement {seq} is not the one "
                f"published under that number (checkpoints topic offset {offset})",
            )
        self._open(seq, note, "as published: ")
        for head in statement_heads(note):
            block = blocks.get((head.shard, head.height))
            anchored = (
                f"statement {seq} as published anchors block {head.height} with hash {_b64(head.block_hash)}"
            )
            if block is None:
                self.record(
                    "published_head",
                    seq,
                    head.shard,
                    f"{anchored}; the database has no block {head.height} of this shard",
                )
            elif block.block_hash != head.block_hash:
                self.record(
                    "published_head",
                    seq,
                    head.shard,
                    f"{anchored}; the database's block {head.height} "
                    f"has hash {_b64(block.block_hash)} (tree size {block.tree_size}, root "
                    f"{_b64(block.log_root)}): other events were sealed after what was anchored",
                )

    def report(self) -> AnchorReport:
        """The totals and mismatches so far."""
        return AnchorReport(
            self.statements,
            dict(self.checked),
            dict(self.unchecked),
            self.published,
            tuple(self._log.listed),
            dict(self._log.counts),
        )


def _heads(heads: Iterable[StoredHead]) -> list[StoredHead]:
    return sorted(heads, key=lambda head: head.shard)


def _shard_head(head: ShardHead | None) -> str:
    return "no head" if head is None else f"height {head.height} hash {_b64(head.block_hash)}"
