-- The anchorer's statements and the receipts anchor kinds brought back (issue 17).
--
-- ARCHITECTURE.md section 3 calls the anchorer's signed shard-heads statement a checkpoint, so
-- the tables keep the names 0001 reserved for them: checkpoints, checkpoint_heads and
-- anchor_receipts. Nothing ever wrote 0001's placeholders; they are replaced, not altered,
-- because their keys (a generated id, a receipt id) are not the anchorer's (a sequence number
-- it chooses before any external call, one receipt per statement and kind). The guard below
-- refuses to drop a placeholder that someone filled by hand.
--
-- checkpoints: one row per statement, seq 1, 2, 3, ... chosen by the one active anchorer; the
--   primary key is also what makes a second, stale anchorer's insert fail.
-- checkpoint_heads: the heads the statement names, one row per shard, with the head block's
--   tree_size and log_root, so "the earliest statement whose head for shard s is at or above
--   height h" (the statement an evidence bundle links to) is one probe of the (shard, height,
--   seq) index: heads of one shard only grow from one statement to the next.
-- anchor_receipts: what each anchor kind returned for a statement, stored once per kind.
-- anchorer_keys: the anchorer's public keys, apart from the sealer's signing_keys, so readers
--   can tell a statement's key from a block's.
-- All four are append-only like every ledger table.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM checkpoints) OR EXISTS (SELECT 1 FROM checkpoint_heads)
       OR EXISTS (SELECT 1 FROM anchor_receipts) THEN
        RAISE EXCEPTION 'provledger: the unused 0001 anchor tables hold rows; nothing provledger runs '
            'writes them, so someone did by hand'
            USING HINT = 'Copy them elsewhere and empty them as the owner, then run provledger migrate again.';
    END IF;
END;
$$;

DROP TABLE anchor_receipts;
DROP TABLE checkpoint_heads;
DROP TABLE checkpoints;

CREATE TABLE checkpoints (
    seq          bigint      PRIMARY KEY CHECK (seq >= 1),
    origin       text        NOT NULL CHECK (origin <> ''),
    shard_count  integer     NOT NULL CHECK (shard_count >= 0),
    root         bytea       NOT NULL CHECK (length(root) = 32),
    note         text        NOT NULL CHECK (note <> ''),  -- the C2SP signed note, exactly as signed
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE checkpoint_heads (
    seq         bigint  NOT NULL REFERENCES checkpoints,
    shard       integer NOT NULL,
    height      bigint  NOT NULL CHECK (height >= 0),
    tree_size   bigint  NOT NULL CHECK (tree_size > 0),
    log_root    bytea   NOT NULL CHECK (length(log_root) = 32),
    block_hash  bytea   NOT NULL CHECK (length(block_hash) = 32),
    PRIMARY KEY (seq, shard),
    FOREIGN KEY (shard, height) REFERENCES blocks (shard, height)
);
CREATE INDEX checkpoint_heads_covering ON checkpoint_heads (shard, height, seq);

CREATE TABLE anchor_receipts (
    seq        bigint      NOT NULL REFERENCES checkpoints,
    kind       text        NOT NULL CHECK (kind <> ''),
    receipt    jsonb       NOT NULL CHECK (jsonb_typeof(receipt) = 'object'),
    stored_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (seq, kind)
);

CREATE TABLE anchorer_keys (
    key_id        bytea       NOT NULL CHECK (length(key_id) = 4),
    name          text        NOT NULL CHECK (name <> ''),
    public_key    bytea       NOT NULL UNIQUE CHECK (length(public_key) = 32),
    verifier_key  text        NOT NULL,
    first_used    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, name)
);

DO $$
DECLARE
    anchor_table text;
BEGIN
    FOREACH anchor_table IN ARRAY ARRAY['checkpoints', 'checkpoint_heads', 'anchor_receipts', 'anchorer_keys']
    LOOP
        EXECUTE format(
            'CREATE TRIGGER %1$s_append_only BEFORE UPDATE OR DELETE ON %1$I '
            'FOR EACH ROW EXECUTE FUNCTION provledger_reject_change()', anchor_table);
        EXECUTE format(
            'CREATE TRIGGER %1$s_no_truncate BEFORE TRUNCATE ON %1$I '
            'FOR EACH STATEMENT EXECUTE FUNCTION provledger_reject_change()', anchor_table);
    END LOOP;
END;
$$;

GRANT SELECT ON checkpoints, checkpoint_heads, anchor_receipts, anchorer_keys
    TO provledger_service, provledger_reader;
GRANT INSERT ON checkpoints, checkpoint_heads, anchor_receipts, anchorer_keys TO provledger_service;
