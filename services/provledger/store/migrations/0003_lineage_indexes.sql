-- Indexes for lineage reads (provledger.store.lineage and provledger.store.walk).
--
-- Each step of a lineage walk looks up one node's edges of one relation: "the runs that
-- generated artifact A", "the artifacts run R used". With relation inside the key, that is one
-- index range of exactly the wanted rows, and INCLUDE makes it index-only (the table is
-- append-only, so pages stay all-visible). The 0001 indexes on (artifact_id, recorded_at) and
-- (run_id, recorded_at) are prefixes of the new ones in all but relation, so they go: the
-- hottest insert path keeps the same number of indexes.

CREATE INDEX lineage_edges_artifact_relation
    ON lineage_edges (artifact_id, relation, recorded_at) INCLUDE (run_id, source_artifact, event_id);
CREATE INDEX lineage_edges_run_relation
    ON lineage_edges (run_id, relation, recorded_at) INCLUDE (artifact_id, event_id);
DROP INDEX lineage_edges_artifact;
DROP INDEX lineage_edges_run;

-- Keyset pages: artifacts by name alone (namespace + name is the 0001 unique key's prefix),
-- runs oldest first, and one job's runs oldest first.
CREATE INDEX artifacts_name ON artifacts (name, artifact_id);
CREATE INDEX runs_first_seen ON runs (first_seen, run_id);
CREATE INDEX runs_job_first_seen ON runs (job_namespace, job_name, first_seen, run_id);
DROP INDEX runs_job;
