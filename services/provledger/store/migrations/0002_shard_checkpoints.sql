-- Shard checkpoints: the C2SP tlog checkpoint of each shard's log after each block, as a signed
-- note (origin <log origin>/shard/<n>), signed by the block's key in the block's transaction.
--
-- Ed25519 is deterministic, so the note could be rebuilt from the header, but only with the
-- private key: storing it lets the API serve /tlog/<shard>/checkpoint and evidence bundles
-- without ever holding a signing key. One row per block; append-only like every ledger table.

CREATE TABLE shard_checkpoints (
    shard      integer NOT NULL,
    height     bigint  NOT NULL,
    tree_size  bigint  NOT NULL CHECK (tree_size > 0),
    note       text    NOT NULL CHECK (note <> ''),
    PRIMARY KEY (shard, height),
    UNIQUE (shard, tree_size),
    FOREIGN KEY (shard, height) REFERENCES blocks (shard, height)
);

CREATE TRIGGER shard_checkpoints_append_only BEFORE UPDATE OR DELETE ON shard_checkpoints
    FOR EACH ROW EXECUTE FUNCTION provledger_reject_change();
CREATE TRIGGER shard_checkpoints_no_truncate BEFORE TRUNCATE ON shard_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION provledger_reject_change();

GRANT SELECT ON shard_checkpoints TO provledger_service, provledger_reader;
GRANT INSERT ON shard_checkpoints TO provledger_service;
