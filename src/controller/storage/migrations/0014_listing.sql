-- ListServers filters and orders served from indexes, and the change marker WatchServers
-- resumes from (docs/api.md#filters-and-orders, docs/api.md#resuming-a-watch).

-- Server ids compare byte by byte (collation "C"), whatever the database's collation: a name
-- prefix (name = "web-*") is then an index range, and pages come in the same order on every
-- deployment. Ids are lowercase ASCII letters, digits and '-', which C.UTF-8 orders the same
-- way; linguistic collations (en_US) would ignore the '-'. No table rewrite: only the indexes
-- on server_id are rebuilt.
ALTER TABLE instances ALTER COLUMN server_id TYPE text COLLATE "C";

-- The transaction that last wrote each row. A resume token is a snapshot (pg_current_snapshot):
-- the rows changed since are those whose change_xid it does not see, so a change committed
-- late by a transaction that started early is never skipped (a sequence number would be: they
-- are taken in start order, not commit order). Deleted servers stay as rows (deleted_at), so a
-- resumed watcher learns of deletions too. Set by a trigger, so every writer of instances
-- (today's statements and tomorrow's) keeps it. Rows older than this migration keep 0.
ALTER TABLE instances ADD COLUMN change_xid xid8 NOT NULL DEFAULT '0';

CREATE FUNCTION overcast_instance_change_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
CREATE TRIGGER instances_change_xid BEFORE INSERT OR UPDATE ON instances
    FOR EACH ROW EXECUTE FUNCTION overcast_instance_change_xid();

CREATE INDEX instances_changes ON instances (project, change_xid, uid);

-- A filtered page comes off an index in its order: by state (ERROR may be 10 of 100,000),
-- by creation time (order_by create_time), by metadata (GIN: @> for key = value, ? for has).
-- Host, server group and scaling group have their indexes already (0001, 0006, 0010).
CREATE INDEX instances_vm_state ON instances (project, vm_state, server_id) WHERE deleted_at IS NULL;
CREATE INDEX instances_created ON instances (project, created_at, server_id) WHERE deleted_at IS NULL;
CREATE INDEX instances_metadata ON instances USING gin (metadata) WHERE deleted_at IS NULL;
