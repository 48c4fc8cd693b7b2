-- Least privilege: a NOLOGIN owner role, one group per service, offsets that only move forward
-- (issue 19, ARCHITECTURE.md section 4).
--
-- Before this migration the login that ran the migrations owned every table, and services
-- usually connected as that same login, so it could ALTER TABLE ... DISABLE TRIGGER and rewrite
-- sealed history; provledger_service could UPDATE consumer_offsets and silently skip events.
--
-- Roles (cluster-wide NOLOGIN groups; operators GRANT them to login users, one login per service):
--   provledger_owner     owns every schema object. Only migrations act as it: from migration
--                        0011 on, `provledger migrate` runs each file after SET LOCAL ROLE
--                        provledger_owner, so the migrating login (a superuser, or a dedicated
--                        migrator login that is a member of provledger_owner) never owns anything.
--   provledger_sealer    INSERT on the tables a block writes (shards, blocks, events,
--                        merkle_tiles, shard_checkpoints, artifacts, runs, lineage_edges), SELECT
--                        on the ledger, EXECUTE on provledger_advance_offset. It may not register
--                        signing keys: that is the operator's act (`provledger keys rotate`, run
--                        with the migrator's credentials).
--   provledger_anchorer  INSERT on checkpoints, checkpoint_heads, anchor_receipts, anchorer_keys,
--                        checkpoint_cosignatures; SELECT on the ledger.
--   provledger_reader    the API: SELECT only (its ingest publishes to Kafka, never writes here).
--   provledger_service   deprecated: the union of provledger_sealer and provledger_anchorer by
--                        membership, so one-login deployments keep working, but it loses every
--                        direct grant, including UPDATE on consumer_offsets and INSERT on
--                        signing_keys. Give each service its own login instead.
-- Nobody but the owner may UPDATE, DELETE or TRUNCATE anything, and PUBLIC may no longer CREATE
-- in schema public.
--
-- Offsets: consumer_offsets is written only through provledger_advance_offset, a SECURITY
-- DEFINER function owned by provledger_owner with a pinned search_path (as the PostgreSQL
-- documentation requires of SECURITY DEFINER functions). It is a compare-and-set from an
-- expected offset that refuses to go back, and every source offset it passes is accounted for:
-- either the shard's newest block (written in the same transaction) ends just before the new
-- offset, or the skipped range is recorded in skipped_offsets, append-only, with the reason the
-- caller gives ('dead-lettered', 'duplicate', ...). A skip without a reason is refused. A block
-- that starts after the expected offset (records the source no longer held) has that gap
-- recorded as 'missing-from-source'. So every source offset below next_offset is either in a
-- block or on record as not sealed, which an audit can check.

DO $$
DECLARE
    group_role text;
BEGIN
    FOREACH group_role IN ARRAY ARRAY['provledger_owner', 'provledger_sealer', 'provledger_anchorer',
                                      'provledger_reader', 'provledger_service'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', group_role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- another database made it
        END;
    END LOOP;
END;
$$;

-- A migrating login that is not a superuser must be a member of the owner role to give it its
-- tables (and to SET ROLE to it for later migrations). Granting needs CREATEROLE / ADMIN on it.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'provledger_owner', 'MEMBER') THEN
        EXECUTE format('GRANT provledger_owner TO %I', current_user);
    END IF;
END;
$$;

-- Source offsets the sealer passed without sealing them, and why. Append-only.
CREATE TABLE skipped_offsets (
    shard         integer     NOT NULL REFERENCES shards,
    first_offset  bigint      NOT NULL CHECK (first_offset >= 0),
    last_offset   bigint      NOT NULL CHECK (last_offset >= first_offset),
    reason        text        NOT NULL CHECK (reason <> ''),
    skipped_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shard, first_offset)
);
CREATE TRIGGER skipped_offsets_append_only BEFORE UPDATE OR DELETE ON skipped_offsets
    FOR EACH ROW EXECUTE FUNCTION provledger_reject_change();
CREATE TRIGGER skipped_offsets_no_truncate BEFORE TRUNCATE ON skipped_offsets
    FOR EACH STATEMENT EXECUTE FUNCTION provledger_reject_change();

-- Move shard p_shard's next_offset from p_expected to p_next. Returns false when the shard is no
-- longer at p_expected (another sealer won: the caller's compare-and-set lost). Raises
-- check_violation when p_next < p_expected, and when it would skip offsets that neither the
-- shard's newest block covers nor a reason (p_reason) explains.
CREATE FUNCTION provledger_advance_offset(p_shard integer, p_expected bigint, p_next bigint, p_reason text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    moved integer;
    head record;
    skip_from bigint := p_expected;
BEGIN
    IF p_next < p_expected THEN
        RAISE EXCEPTION 'provledger: shard % offsets only move forward: % is before %', p_shard, p_next, p_expected
            USING ERRCODE = 'check_violation',
                  HINT = 'A consumer offset never goes back; every offset below it is sealed or on record.';
    END IF;
    IF p_expected = 0 THEN
        INSERT INTO public.consumer_offsets (shard, next_offset, updated_at) VALUES (p_shard, p_next, now())
            ON CONFLICT (shard) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()
            WHERE public.consumer_offsets.next_offset = 0;
    ELSE
        UPDATE public.consumer_offsets SET next_offset = p_next, updated_at = now()
            WHERE shard = p_shard AND next_offset = p_expected;
    END IF;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved = 0 THEN
        RETURN false;
    END IF;
    IF p_next = p_expected THEN
        RETURN true;
    END IF;
    SELECT first_offset, last_offset INTO head FROM public.blocks WHERE shard = p_shard
        ORDER BY height DESC LIMIT 1;
    IF FOUND AND head.last_offset = p_next - 1 THEN
        IF head.first_offset <= p_expected THEN
            RETURN true;
        END IF;
        -- The block starts later than the shard's offset: the source no longer held those records.
        INSERT INTO public.skipped_offsets (shard, first_offset, last_offset, reason)
            VALUES (p_shard, p_expected, head.first_offset - 1, 'missing-from-source');
        RETURN true;
    END IF;
    IF p_reason IS NULL OR p_reason = '' THEN
        RAISE EXCEPTION 'provledger: shard % would skip offsets % to % with no block covering them and no reason',
            p_shard, skip_from, p_next - 1
            USING ERRCODE = 'check_violation',
                  HINT = 'Seal the records in a block, or pass why they are not sealed (dead-lettered, duplicate).';
    END IF;
    INSERT INTO public.skipped_offsets (shard, first_offset, last_offset, reason)
        VALUES (p_shard, skip_from, p_next - 1, p_reason);
    RETURN true;
END;
$$;

-- The owner role must be able to create in the schema before it can be given what is there.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO provledger_owner;

-- Everything in schema public (tables with their indexes and identity sequences, free sequences,
-- views, functions) now belongs to the owner role; nothing an extension owns is touched.
DO $$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO provledger_owner',
            CASE obj.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, obj.name);
    END LOOP;
    FOR obj IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO provledger_owner', obj.name);
    END LOOP;
END;
$$;

GRANT USAGE ON SCHEMA public TO provledger_sealer, provledger_anchorer, provledger_reader, provledger_service;

-- Start every group from nothing on every table, then grant exactly its job.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, provledger_sealer, provledger_anchorer,
    provledger_reader, provledger_service;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, provledger_sealer, provledger_anchorer,
    provledger_reader, provledger_service;
REVOKE ALL ON FUNCTION provledger_advance_offset(integer, bigint, bigint, text) FROM PUBLIC;

GRANT SELECT ON shards, signing_keys, blocks, events, merkle_tiles, shard_checkpoints, artifacts, runs,
    lineage_edges, checkpoints, checkpoint_heads, anchor_receipts, anchorer_keys, checkpoint_cosignatures,
    consumer_offsets, skipped_offsets
    TO provledger_sealer, provledger_anchorer, provledger_reader;

GRANT INSERT ON shards, blocks, events, merkle_tiles, shard_checkpoints, artifacts, runs, lineage_edges
    TO provledger_sealer;
GRANT USAGE ON SEQUENCE shards_shard_seq, artifacts_artifact_id_seq, lineage_edges_edge_id_seq
    TO provledger_sealer;
GRANT EXECUTE ON FUNCTION provledger_advance_offset(integer, bigint, bigint, text) TO provledger_sealer;

GRANT INSERT ON checkpoints, checkpoint_heads, anchor_receipts, anchorer_keys, checkpoint_cosignatures
    TO provledger_anchorer;

-- Membership only where missing: a second grant by another grantor would tie the migrating
-- login to it (and a database of the same cluster may have granted it already).
DO $$
DECLARE
    member_of text;
BEGIN
    FOREACH member_of IN ARRAY ARRAY['provledger_sealer', 'provledger_anchorer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_auth_members
                       WHERE roleid = to_regrole(member_of) AND member = to_regrole('provledger_service')) THEN
            EXECUTE format('GRANT %I TO provledger_service', member_of);
        END IF;
    END LOOP;
END;
$$;
