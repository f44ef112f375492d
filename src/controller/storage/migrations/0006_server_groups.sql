-- Server groups and what a server asks of its host's traits (issue 4).

CREATE TABLE server_groups (
    project    text   NOT NULL,
    id         text   NOT NULL,
    policy     text   NOT NULL
        CHECK (policy IN ('AFFINITY', 'ANTI_AFFINITY', 'SOFT_AFFINITY', 'SOFT_ANTI_AFFINITY')),
    request_id text,
    version    bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, id)
);
CREATE UNIQUE INDEX server_groups_request_id ON server_groups (project, request_id)
    WHERE request_id IS NOT NULL;

-- A group's members are the live servers that name it (instances.server_group, migration 0003).
CREATE INDEX instances_server_group ON instances (project, server_group)
    WHERE server_group <> '' AND deleted_at IS NULL;

-- The image's hw_architecture and hypervisor_type, frozen at create like the boot spec:
-- the scheduler's architecture and hypervisor type filters read them. Empty = any.
ALTER TABLE instances
    ADD COLUMN required_arch            text NOT NULL DEFAULT '',
    ADD COLUMN required_hypervisor_type text NOT NULL DEFAULT '';
