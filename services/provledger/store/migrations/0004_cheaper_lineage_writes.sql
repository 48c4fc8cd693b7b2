-- Cheaper lineage writes: the sealer's hottest inserts lose per-row work that guards nothing the
-- writer does not already guarantee (measured in benchmarks/bench_seal.py: for a block of 12,500
-- events the lineage COPY took 1.1-1.6 s and the artifacts insert 0.55-0.7 s).
--
-- 1. lineage_edges' three foreign keys cost one index probe and row lock per key per row. The
--    sealer writes every edge in the transaction that inserts its event, its run and its
--    artifact (ids read back from the artifacts just upserted), and nothing else writes them;
--    `provledger audit` lists edges whose event is missing (store.audit_reads.orphan_events),
--    which is how tampering behind the triggers' back (where foreign keys are off too) shows.
-- 2. The digest CHECK of artifacts ran a regular expression per row (about half of that
--    insert's time); the same rule in plain string functions costs a tenth of it.
--    '^sha256:[0-9a-f]{64}$' is exactly: 71 characters, the prefix, then only lowercase hex.

ALTER TABLE lineage_edges
    DROP CONSTRAINT lineage_edges_run_id_fkey,
    DROP CONSTRAINT lineage_edges_artifact_id_fkey,
    DROP CONSTRAINT lineage_edges_source_artifact_fkey,
    DROP CONSTRAINT lineage_edges_event_id_fkey;

ALTER TABLE artifacts
    DROP CONSTRAINT artifacts_digest_check,
    ADD CONSTRAINT artifacts_digest_check CHECK (
        length(digest) = 71
        AND left(digest, 7) = 'sha256:'
        AND ltrim(substr(digest, 8), '0123456789abcdef') = ''
    );
