-- Request ids (AIP-155, as EC2's ClientToken): what each create's request id was first used
-- for, with that request's parameters, so that a retry gets the first result and the same id
-- with other parameters is refused (issue 14). Kept while what it created lives and for a
-- retention period after (the controller's --request-id-retention, default 24 h; table upkeep
-- purges), whether the resource's own row stays (servers: soft-deleted) or goes (flavors,
-- images, server groups).
CREATE TABLE request_ids (
    kind       text NOT NULL CHECK (kind IN ('server', 'server_group', 'flavor', 'image')),
    project    text NOT NULL DEFAULT '',  -- '' for flavors and images (not in a project)
    request_id text NOT NULL,
    resource   text NOT NULL,  -- the name of what the create made
    uid        uuid,           -- servers: the instance (a server's name may be reused once deleted)
    params     jsonb,          -- the create's parameters; NULL: remembered before they were
    created_at timestamptz NOT NULL DEFAULT now(),
    gone_at    timestamptz,    -- when what it made was deleted
    PRIMARY KEY (kind, project, request_id)
);
CREATE INDEX request_ids_gone ON request_ids (gone_at) WHERE gone_at IS NOT NULL;

INSERT INTO request_ids (kind, project, request_id, resource, uid, created_at, gone_at)
SELECT 'server', project, request_id, 'projects/' || project || '/servers/' || server_id, uid,
    created_at, deleted_at
FROM instances WHERE request_id IS NOT NULL;
INSERT INTO request_ids (kind, project, request_id, resource, created_at)
SELECT 'server_group', project, request_id, 'projects/' || project || '/serverGroups/' || id, created_at
FROM server_groups WHERE request_id IS NOT NULL;
-- Flavor and image request ids were never unique: the newest use of each is kept.
INSERT INTO request_ids (kind, request_id, resource, created_at)
SELECT DISTINCT ON (request_id) 'flavor', request_id, 'flavors/' || id, created_at
FROM flavors WHERE request_id IS NOT NULL ORDER BY request_id, created_at DESC;
INSERT INTO request_ids (kind, request_id, resource, created_at)
SELECT DISTINCT ON (request_id) 'image', request_id, 'images/' || id, created_at
FROM images WHERE request_id IS NOT NULL ORDER BY request_id, created_at DESC;

-- request_ids holds their uniqueness now, for as long as the retention says: these would keep
-- a server's or group's request id forever.
DROP INDEX instances_request_id;
DROP INDEX server_groups_request_id;

-- When what a request made is deleted, its request id starts its retention. Triggers, so that
-- every way of deleting (one server, a batch of agents' results, a flavor) counts.
CREATE FUNCTION overcast_catalog_request_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN  -- TG_ARGV: the kind, and the prefix of its names
    UPDATE request_ids SET gone_at = now()
    WHERE kind = TG_ARGV[0] AND project = '' AND request_id = OLD.request_id
      AND resource = TG_ARGV[1] || OLD.id AND gone_at IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER flavors_request_gone AFTER DELETE ON flavors
    FOR EACH ROW WHEN (OLD.request_id IS NOT NULL)
    EXECUTE FUNCTION overcast_catalog_request_gone('flavor', 'flavors/');
CREATE TRIGGER images_request_gone AFTER DELETE ON images
    FOR EACH ROW WHEN (OLD.request_id IS NOT NULL)
    EXECUTE FUNCTION overcast_catalog_request_gone('image', 'images/');

CREATE FUNCTION overcast_group_request_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE request_ids SET gone_at = now()
    WHERE kind = 'server_group' AND project = OLD.project AND request_id = OLD.request_id
      AND resource = 'projects/' || OLD.project || '/serverGroups/' || OLD.id AND gone_at IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER server_groups_request_gone AFTER DELETE ON server_groups
    FOR EACH ROW WHEN (OLD.request_id IS NOT NULL) EXECUTE FUNCTION overcast_group_request_gone();

-- Servers are soft-deleted (deleted_at set); the WHEN keeps the trigger off every other update.
CREATE FUNCTION overcast_server_request_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE request_ids SET gone_at = NEW.deleted_at
    WHERE kind = 'server' AND project = NEW.project AND request_id = NEW.request_id
      AND uid = NEW.uid;
    RETURN NULL;
END $$;
CREATE TRIGGER instances_request_gone AFTER UPDATE OF deleted_at ON instances
    FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL AND NEW.request_id IS NOT NULL)
    EXECUTE FUNCTION overcast_server_request_gone();
