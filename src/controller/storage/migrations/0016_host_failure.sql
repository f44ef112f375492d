-- Host failure (issue 14; docs/decisions/0012-host-failure-and-fencing.md).
--
-- A host's DOWN since: set when its state turns DOWN, cleared when it turns UP. A trigger, so
-- that every way the state changes (the monitor, a heartbeat flush, a registration) keeps it
-- and the host monitor's statements stay as they are. The WHEN clause is checked without
-- calling the function: the heartbeat flush's updates (state UP to UP) cost nothing more.
ALTER TABLE host_status ADD COLUMN down_since timestamptz;
UPDATE host_status SET down_since = coalesce(last_heartbeat, now()) WHERE state = 'DOWN';

CREATE FUNCTION overcast_host_down_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.down_since := CASE WHEN NEW.state = 'DOWN' THEN now() ELSE NULL END;
    RETURN NEW;
END $$;
CREATE TRIGGER host_status_down_since BEFORE UPDATE ON host_status
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION overcast_host_down_since();

-- generation: which placement of the server is the current one. Each evacuation increments it;
-- the spawn command carries it, the agent writes it into the domain's metadata and refuses
-- a command older than its domain, and a domain of an older generation is removed (fencing).
-- host_failure_policy: what the controller does once the server's host has been DOWN past the
-- grace (--host-failure-grace): NONE (mark it), EVACUATE (mark it and rebuild it elsewhere).
-- host_down_at: when the server was marked for its host's failure (NULL: not marked), and
-- host_down_power the power state it had then (restored when the host comes back).
ALTER TABLE instances
    ADD COLUMN generation bigint NOT NULL DEFAULT 1,
    ADD COLUMN host_failure_policy text NOT NULL DEFAULT 'NONE'
        CHECK (host_failure_policy IN ('NONE', 'EVACUATE')),
    ADD COLUMN host_down_at timestamptz,
    ADD COLUMN host_down_power text;
CREATE INDEX instances_host_down ON instances (host_id) WHERE host_down_at IS NOT NULL AND deleted_at IS NULL;
