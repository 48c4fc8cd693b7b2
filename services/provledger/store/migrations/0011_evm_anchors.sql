-- The evm anchor kind's transactions, signed and stored before they are sent (issue 21).
--
-- A chain transaction is signed with an explicit nonce and stored here before it is broadcast,
-- so an anchorer that restarts (or sees the transaction dropped by a reorganisation) sends the
-- very same bytes again and never anchors one statement twice. One row per nonce of a submitter
-- on a chain: a nonce is spent once, so the primary key refuses a second transaction for it. A
-- statement has more than one row only when its nonce was taken by another transaction of the
-- same key (then it is signed again with the next free nonce).
--
-- Like every ledger table it is append-only, and the anchorer group may only read and insert.

CREATE TABLE evm_transactions (
    seq              bigint      NOT NULL REFERENCES checkpoints,
    chain_id         bigint      NOT NULL CHECK (chain_id > 0),
    submitter        bytea       NOT NULL CHECK (length(submitter) = 20),
    nonce            bigint      NOT NULL CHECK (nonce >= 0),
    tx_hash          bytea       NOT NULL UNIQUE CHECK (length(tx_hash) = 32),
    raw_transaction  bytea       NOT NULL CHECK (length(raw_transaction) > 0),
    signed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, submitter, nonce)
);
CREATE INDEX evm_transactions_by_statement ON evm_transactions (seq, chain_id, submitter, nonce);

CREATE TRIGGER evm_transactions_append_only BEFORE UPDATE OR DELETE ON evm_transactions
    FOR EACH ROW EXECUTE FUNCTION provledger_reject_change();
CREATE TRIGGER evm_transactions_no_truncate BEFORE TRUNCATE ON evm_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION provledger_reject_change();

REVOKE ALL ON evm_transactions FROM PUBLIC;
GRANT SELECT, INSERT ON evm_transactions TO provledger_anchorer;
