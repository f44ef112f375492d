-- Overcast schema, version 1.

CREATE TABLE flavors (
    id           text PRIMARY KEY,
    vcpus        integer NOT NULL CHECK (vcpus > 0),
    memory_mib   bigint  NOT NULL CHECK (memory_mib > 0),
    disk_gib     bigint  NOT NULL CHECK (disk_gib >= 0),
    description  text    NOT NULL DEFAULT '',
    request_id   text,
    version      bigint  NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE images (
    id              text PRIMARY KEY,
    disk_format     text   NOT NULL,
    min_disk_gib    bigint NOT NULL DEFAULT 0,
    min_memory_mib  bigint NOT NULL DEFAULT 0,
    status          text   NOT NULL,
    size_bytes      bigint NOT NULL DEFAULT 0,
    checksum_sha256 text   NOT NULL DEFAULT '',
    properties      jsonb  NOT NULL DEFAULT '{}',
    request_id      text,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hosts (
    id                    text PRIMARY KEY,
    hostname              text    NOT NULL,
    arch                  text    NOT NULL,
    hypervisor_type       text    NOT NULL,
    hypervisor_uri        text    NOT NULL DEFAULT '',
    availability_zone     text    NOT NULL,
    vcpus                 integer NOT NULL,
    memory_mib            bigint  NOT NULL,
    disk_gib              bigint  NOT NULL,
    cpu_allocation_ratio  double precision NOT NULL,
    ram_allocation_ratio  double precision NOT NULL,
    disk_allocation_ratio double precision NOT NULL,
    vcpus_used            integer NOT NULL DEFAULT 0,
    memory_mib_used       bigint  NOT NULL DEFAULT 0,
    disk_gib_used         bigint  NOT NULL DEFAULT 0,
    servers               integer NOT NULL DEFAULT 0,
    enabled               boolean NOT NULL DEFAULT true,
    disabled_reason       text    NOT NULL DEFAULT '',
    version               bigint  NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    -- The claim invariant, enforced by the database itself as a last line of defence.
    CHECK (vcpus_used <= vcpus * cpu_allocation_ratio),
    CHECK (memory_mib_used <= memory_mib * ram_allocation_ratio),
    CHECK (disk_gib_used <= disk_gib * disk_allocation_ratio)
);

-- Liveness lives apart from inventory and usage: heartbeats arrive every second from every
-- host and must never queue behind (or deadlock with) the row locks that claims take.
CREATE TABLE host_status (
    id             text PRIMARY KEY REFERENCES hosts (id),
    state          text NOT NULL DEFAULT 'DOWN',
    last_heartbeat timestamptz
);

CREATE VIEW hosts_view AS
    SELECT h.*, s.state, s.last_heartbeat FROM hosts h JOIN host_status s USING (id);

CREATE TABLE instances (
    uid          uuid PRIMARY KEY,
    project      text    NOT NULL,
    server_id    text    NOT NULL,
    flavor_id    text    NOT NULL,
    image_id     text    NOT NULL,
    vcpus        integer NOT NULL,
    memory_mib   bigint  NOT NULL,
    disk_gib     bigint  NOT NULL,
    vm_state     text    NOT NULL,
    task_state   text,
    power_state  text    NOT NULL DEFAULT 'POWER_STATE_UNSPECIFIED',
    host_id      text REFERENCES hosts (id),
    allocated    boolean NOT NULL DEFAULT false,
    task_command uuid,
    fault        text    NOT NULL DEFAULT '',
    metadata     jsonb   NOT NULL DEFAULT '{}',
    request_id   text,
    version      bigint  NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);

-- A name is unique among live servers; it may be reused once the server is deleted.
CREATE UNIQUE INDEX instances_live_name ON instances (project, server_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX instances_request_id ON instances (project, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX instances_pending ON instances (created_at) WHERE task_state = 'SCHEDULING';
CREATE INDEX instances_host ON instances (host_id) WHERE deleted_at IS NULL;

-- Transactional outbox: rows written in the same transaction as the state change they
-- announce, published to RabbitMQ by the relay, then deleted.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    kind         text  NOT NULL CHECK (kind IN ('event', 'command')),
    message_id   uuid  NOT NULL,
    message_type text  NOT NULL,
    routing_key  text  NOT NULL,
    project      text  NOT NULL DEFAULT '',
    resource     text  NOT NULL DEFAULT '',
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION overcast_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('overcast_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION overcast_notify_outbox();

-- Watchers and schedulers on every controller replica learn of changes through NOTIFY.
CREATE FUNCTION overcast_notify_instance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('overcast_instances', NEW.project || ' ' || NEW.uid::text);
    IF NEW.task_state = 'SCHEDULING' THEN
        PERFORM pg_notify('overcast_pending', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER instances_notify AFTER INSERT OR UPDATE ON instances
    FOR EACH ROW EXECUTE FUNCTION overcast_notify_instance();
