-- Receipts by kind, in statement order: what an evidence bundle looks up (issue 17).
--
-- A bundle carries, for each anchor kind, the receipt of the earliest statement at or after the
-- one covering its block that has a receipt of that kind (a kind added later, or one that was
-- down, catches up on later statements only). The primary key (seq, kind) answers "receipts of
-- this statement"; this index answers "the first receipt of kind k from statement s on" and
-- "which kinds have receipts" with one probe each, so building a bundle stays O(log n) however
-- many statements came after its block.

CREATE INDEX anchor_receipts_by_kind ON anchor_receipts (kind, seq);
