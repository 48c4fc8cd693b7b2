-- Witness cosignatures of shard checkpoints (issue 18).
--
-- The anchorer submits each shard's newest checkpoint (shard_checkpoints.note, signed by the
-- sealer) to every configured C2SP tlog-witness and stores the cosignature line each returns.
-- One row per checkpoint and witness: a checkpoint is named by (shard, tree_size), which
-- shard_checkpoints keeps unique, and a witness by its verifier key (C2SP signed-note form,
-- name+hash+key), so two witnesses that share a name stay apart. The line is stored exactly as
-- the witness sent it ("— <name> <base64(keyID || timestamp || signature)>"), so appending the
-- stored lines to the note rebuilds the cosigned checkpoint byte for byte; cosigned_at is the
-- cosignature's own timestamp, kept beside it for queries.
--
-- "The size each witness last cosigned" (where the anchorer's next consistency proof starts)
-- and "the smallest cosigned checkpoint at or above size n" (what an evidence bundle carries)
-- are both one probe of the primary key. Append-only like every ledger table.

CREATE TABLE checkpoint_cosignatures (
    shard         integer     NOT NULL,
    tree_size     bigint      NOT NULL CHECK (tree_size > 0),
    witness_key   text        NOT NULL CHECK (witness_key <> ''),
    cosignature   text        NOT NULL CHECK (cosignature LIKE '— %'),
    cosigned_at   timestamptz NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shard, tree_size, witness_key),
    FOREIGN KEY (shard, tree_size) REFERENCES shard_checkpoints (shard, tree_size)
);
CREATE INDEX checkpoint_cosignatures_by_witness ON checkpoint_cosignatures (witness_key, shard, tree_size);

CREATE TRIGGER checkpoint_cosignatures_append_only BEFORE UPDATE OR DELETE ON checkpoint_cosignatures
    FOR EACH ROW EXECUTE FUNCTION provledger_reject_change();
CREATE TRIGGER checkpoint_cosignatures_no_truncate BEFORE TRUNCATE ON checkpoint_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION provledger_reject_change();

GRANT SELECT ON checkpoint_cosignatures TO provledger_service, provledger_reader;
GRANT INSERT ON checkpoint_cosignatures TO provledger_service;
