-- Change notifications per statement, not per row: a scheduler batch or a group of agents'
-- results changes hundreds of servers in one statement, and one NOTIFY per row cost the
-- database (a trigger call and a queued notification each) and every listening controller (a
-- callback each). Payload: "<project> <uid>,<uid>,..." with at most 200 uids (NOTIFY payloads
-- are limited to 8000 bytes); more become several notifications.

DROP TRIGGER instances_notify ON instances;
DROP FUNCTION overcast_notify_instance();

CREATE FUNCTION overcast_notify_instances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT project, string_agg(uid::text, ',') AS uids
        FROM (SELECT project, uid,
                     (row_number() OVER (PARTITION BY project ORDER BY uid) - 1) / 200 AS chunk
              FROM changed) c
        GROUP BY project, chunk
    LOOP
        PERFORM pg_notify('overcast_instances', r.project || ' ' || r.uids);
    END LOOP;
    IF EXISTS (SELECT 1 FROM changed WHERE task_state = 'SCHEDULING') THEN
        PERFORM pg_notify('overcast_pending', '');
    END IF;
    RETURN NULL;
END $$;

-- A trigger with a transition table serves one event: one for inserts, one for updates.
CREATE TRIGGER instances_notify_insert AFTER INSERT ON instances
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION overcast_notify_instances();
CREATE TRIGGER instances_notify_update AFTER UPDATE ON instances
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION overcast_notify_instances();
