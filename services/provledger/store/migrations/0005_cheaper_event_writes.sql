-- Cheaper event and artifact writes: per-row work the sealer's hottest inserts paid for nothing
-- (measured with 100,000 events of benchmarks/bench_seal.py written in blocks of 12,500 through
-- store.blocks.write_block: Postgres backend CPU 73 -> 46 us per event).
--
-- 1. The events -> blocks foreign key ran a referential-integrity trigger per event row (one
--    index probe and row lock on blocks each: half of the events COPY). The sealer inserts a
--    block and its events in one transaction and nothing else writes events; `provledger audit`
--    checks every event row names the block whose leaf range holds it ("event_block"), which is
--    how rows changed behind the triggers' back (where foreign keys are off too) show anyway.
-- 2. Identifiers compare as bytes. Run ids, job and artifact names, digests, kinds and relations
--    are machine identifiers, not prose: a locale's collation bought nothing but strcoll() on
--    every index comparison (a third of the artifacts insert under C.UTF-8, more under a
--    language locale such as en_US.UTF-8). COLLATE "C" compares bytes; UTF-8 byte order is code
--    point order, so keyset pages keep a stable, documented order. The run_id columns change
--    together: comparing columns of two different collations is an error.
--
-- Changing a column's collation rebuilds the indexes that use it; on a large ledger run this
-- migration in a maintenance window.

ALTER TABLE events
    DROP CONSTRAINT events_shard_height_fkey,
    ALTER COLUMN event_type TYPE text COLLATE "C",
    ALTER COLUMN run_id TYPE text COLLATE "C",
    ALTER COLUMN job_namespace TYPE text COLLATE "C",
    ALTER COLUMN job_name TYPE text COLLATE "C";

ALTER TABLE runs
    ALTER COLUMN run_id TYPE text COLLATE "C",
    ALTER COLUMN parent_run_id TYPE text COLLATE "C",
    ALTER COLUMN job_namespace TYPE text COLLATE "C",
    ALTER COLUMN job_name TYPE text COLLATE "C";

ALTER TABLE artifacts
    ALTER COLUMN namespace TYPE text COLLATE "C",
    ALTER COLUMN name TYPE text COLLATE "C",
    ALTER COLUMN digest TYPE text COLLATE "C",
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN version TYPE text COLLATE "C";

ALTER TABLE lineage_edges
    ALTER COLUMN relation TYPE text COLLATE "C",
    ALTER COLUMN run_id TYPE text COLLATE "C";
