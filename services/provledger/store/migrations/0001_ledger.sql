-- provledger ledger schema, version 1 (ARCHITECTURE.md section 4).
--
-- Ledger tables are append-only: a trigger rejects UPDATE, DELETE and TRUNCATE on each, and the
-- service role may only INSERT and SELECT them. What must change in place (the consumer offset a
-- shard has sealed up to, a key's end of validity) lives in small side tables outside the hash
-- chain. Crypto-shredding later touches only side tables, never hashed bytes.
--
-- Never edit this file once applied anywhere: add 0002_....sql instead (the migrator refuses a
-- changed checksum).

-- One Merkle log per shard: one partition of one ingested topic.
CREATE TABLE shards (
    shard       integer GENERATED ALWAYS AS IDENTITY (START WITH 0 MINVALUE 0) PRIMARY KEY,
    topic       text        NOT NULL CHECK (topic <> ''),
    partition   integer     NOT NULL CHECK (partition >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition)
);

-- Public keys that sign block headers and checkpoints, in succession: a key is valid from its
-- valid_from until the next key's valid_from (ledger.keys.TrustedKey ranges over sealed_at), so
-- rotation appends a row and never edits one. key_id is the 4-byte C2SP key id.
CREATE TABLE signing_keys (
    key_id        bytea       NOT NULL CHECK (length(key_id) = 4),
    name          text        NOT NULL CHECK (name <> ''),
    public_key    bytea       NOT NULL UNIQUE CHECK (length(public_key) = 32),
    verifier_key  text        NOT NULL,
    valid_from    timestamptz NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, name)
);

-- Signed block headers. The primary key (shard, height) is the compare-and-set that prevents
-- forks: a zombie sealer inserting a height that exists fails with a unique violation.
CREATE TABLE blocks (
    shard            integer     NOT NULL REFERENCES shards,
    height           bigint      NOT NULL CHECK (height >= 0),
    block_hash       bytea       NOT NULL UNIQUE CHECK (length(block_hash) = 32),
    prev_block_hash  bytea       NOT NULL CHECK (length(prev_block_hash) = 32),
    header           bytea       NOT NULL,  -- canonical header bytes exactly as hashed and signed
    signature        bytea       NOT NULL CHECK (length(signature) = 64),
    key_id           bytea       NOT NULL CHECK (length(key_id) = 4),
    batch_root       bytea       NOT NULL CHECK (length(batch_root) = 32),
    tree_size        bigint      NOT NULL CHECK (tree_size > 0),
    log_root         bytea       NOT NULL CHECK (length(log_root) = 32),
    first_offset     bigint      NOT NULL CHECK (first_offset >= 0),
    last_offset      bigint      NOT NULL CHECK (last_offset >= first_offset),
    event_count      integer     NOT NULL CHECK (event_count > 0),
    min_event_time   timestamptz NOT NULL,
    max_event_time   timestamptz NOT NULL CHECK (max_event_time >= min_event_time),
    sealed_at        timestamptz NOT NULL,
    PRIMARY KEY (shard, height),
    UNIQUE (shard, tree_size),
    CHECK (height > 0 OR prev_block_hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
);

-- Events as sealed: canonical bytes exactly as hashed (leaf_hash = SHA-256(0x00 || canonical)).
CREATE TABLE events (
    event_id       uuid        PRIMARY KEY,
    shard          integer     NOT NULL,
    leaf_index     bigint      NOT NULL CHECK (leaf_index >= 0),
    height         bigint      NOT NULL,
    leaf_hash      bytea       NOT NULL CHECK (length(leaf_hash) = 32),
    canonical      bytea       NOT NULL,
    event_time     timestamptz NOT NULL,
    event_type     text        NOT NULL,
    run_id         text        NOT NULL,
    job_namespace  text        NOT NULL,
    job_name       text        NOT NULL,
    source_offset  bigint      NOT NULL CHECK (source_offset >= 0),
    UNIQUE (shard, leaf_index),
    FOREIGN KEY (shard, height) REFERENCES blocks (shard, height)
);
CREATE INDEX events_run ON events (run_id, event_time);

-- Merkle interior nodes as C2SP tlog-tiles: a tile at tile level L holds up to 256 hashes of tree
-- level 8L; a partial tile of width W is its own immutable row, superseded by wider ones, so
-- proofs read O(log n) rows and nothing is ever rewritten.
CREATE TABLE merkle_tiles (
    shard       integer NOT NULL REFERENCES shards,
    tile_level  integer NOT NULL CHECK (tile_level >= 0),
    tile_index  bigint  NOT NULL CHECK (tile_index >= 0),
    width       integer NOT NULL CHECK (width BETWEEN 1 AND 256),
    hashes      bytea   NOT NULL CHECK (length(hashes) = 32 * width),
    PRIMARY KEY (shard, tile_level, tile_index, width)
);

-- Lineage graph (W3C PROV shaped): artifacts, runs, and edges recorded by sealed events.
CREATE TABLE artifacts (
    artifact_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace    text        NOT NULL,
    name         text        NOT NULL,
    digest       text        NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
    kind         text        NOT NULL,
    version      text,
    first_seen   timestamptz NOT NULL,
    UNIQUE (namespace, name, digest)
);
CREATE INDEX artifacts_digest ON artifacts (digest);

CREATE TABLE runs (
    run_id         text        PRIMARY KEY,
    parent_run_id  text,
    job_namespace  text        NOT NULL,
    job_name       text        NOT NULL,
    first_seen     timestamptz NOT NULL
);
CREATE INDEX runs_job ON runs (job_namespace, job_name);
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE lineage_edges (
    edge_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relation          text        NOT NULL CHECK (relation IN ('used', 'generated', 'derived_from')),
    run_id            text        REFERENCES runs,
    artifact_id       bigint      NOT NULL REFERENCES artifacts,
    source_artifact   bigint      REFERENCES artifacts,  -- set for derived_from
    event_id          uuid        NOT NULL REFERENCES events,
    recorded_at       timestamptz NOT NULL,              -- sealed_at of the block: lineage "as of"
    CHECK ((relation = 'derived_from') = (source_artifact IS NOT NULL)),
    CHECK (relation = 'derived_from' OR run_id IS NOT NULL)
);
CREATE INDEX lineage_edges_artifact ON lineage_edges (artifact_id, recorded_at);
CREATE INDEX lineage_edges_run ON lineage_edges (run_id, recorded_at);
CREATE INDEX lineage_edges_source ON lineage_edges (source_artifact) WHERE source_artifact IS NOT NULL;

-- Checkpoints the anchorer signs over all shard heads, and what external systems answered.
CREATE TABLE checkpoints (
    checkpoint_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin         text        NOT NULL,
    tree_size      bigint      NOT NULL CHECK (tree_size >= 0),
    root           bytea       NOT NULL CHECK (length(root) = 32),
    note           text        NOT NULL,  -- the C2SP signed-note text, exactly as signed
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE checkpoint_heads (
    checkpoint_id  bigint NOT NULL REFERENCES checkpoints,
    shard          integer NOT NULL,
    height         bigint  NOT NULL,
    PRIMARY KEY (checkpoint_id, shard),
    FOREIGN KEY (shard, height) REFERENCES blocks (shard, height)
);

CREATE TABLE anchor_receipts (
    receipt_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checkpoint_id  bigint      NOT NULL REFERENCES checkpoints,
    anchor_type    text        NOT NULL,  -- rfc3161, git, evm, ...
    receipt        jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX anchor_receipts_checkpoint ON anchor_receipts (checkpoint_id);

-- Side table, mutable by design: how far each shard's source partition is sealed. Updated in the
-- same transaction as the block it covers, so Postgres, not Kafka, is the source of truth.
CREATE TABLE consumer_offsets (
    shard        integer     PRIMARY KEY REFERENCES shards,
    next_offset  bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Append-only enforcement.
CREATE FUNCTION provledger_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'provledger: % on ledger table % is not allowed; ledger tables are append-only',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Sealed history cannot change. Add new rows instead.';
END;
$$;

DO $$
DECLARE
    ledger_table text;
BEGIN
    FOREACH ledger_table IN ARRAY ARRAY[
        'shards', 'signing_keys', 'blocks', 'events', 'merkle_tiles', 'artifacts',
        'runs', 'lineage_edges', 'checkpoints', 'checkpoint_heads', 'anchor_receipts'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER %1$s_append_only BEFORE UPDATE OR DELETE ON %1$I '
            'FOR EACH ROW EXECUTE FUNCTION provledger_reject_change()', ledger_table);
        EXECUTE format(
            'CREATE TRIGGER %1$s_no_truncate BEFORE TRUNCATE ON %1$I '
            'FOR EACH STATEMENT EXECUTE FUNCTION provledger_reject_change()', ledger_table);
    END LOOP;
END;
$$;

-- Roles. provledger_service (sealer, anchorer, ingest) may INSERT and SELECT ledger tables and
-- keep consumer offsets; provledger_reader (the API's read path) may only SELECT. Both are
-- NOLOGIN groups: operators create login users and GRANT a group to them. Roles are cluster-wide,
-- so creating them tolerates another database having done it first.
DO $$
BEGIN
    CREATE ROLE provledger_service NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;
DO $$
BEGIN
    CREATE ROLE provledger_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

GRANT USAGE ON SCHEMA public TO provledger_service, provledger_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO provledger_service, provledger_reader;
GRANT INSERT ON shards, signing_keys, blocks, events, merkle_tiles, artifacts, runs,
    lineage_edges, checkpoints, checkpoint_heads, anchor_receipts, consumer_offsets TO provledger_service;
GRANT UPDATE ON consumer_offsets TO provledger_service;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO provledger_service;
