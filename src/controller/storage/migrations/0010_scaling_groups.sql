-- Scaling groups (issue 13): a group's configuration, what the autoscaler remembers of it
-- (state) and last saw (status), its members (instances.scaling_group), its history and the
-- application metrics pushed for it.

CREATE TABLE scaling_groups (
    project           text    NOT NULL,
    id                text    NOT NULL,
    template          jsonb   NOT NULL,  -- storage/scaling_json.py: template_json
    min_size          integer NOT NULL CHECK (min_size >= 0),
    max_size          integer NOT NULL,
    desired_size      integer NOT NULL,
    policies          jsonb   NOT NULL DEFAULT '[]',
    scheduled_actions jsonb   NOT NULL DEFAULT '[]',
    scale_in_rule     text    NOT NULL
        CHECK (scale_in_rule IN ('NEWEST_FIRST', 'OLDEST_FIRST', 'LEAST_LOADED')),
    health_grace_s    double precision NOT NULL CHECK (health_grace_s >= 0),
    protected         text[]  NOT NULL DEFAULT '{}',  -- server ids a scale-in never removes
    server_group      text    NOT NULL DEFAULT '',    -- the server group it owns; '' = none
    state             jsonb   NOT NULL DEFAULT '{}',  -- GroupState.to_json, the autoscaler's
    status            jsonb   NOT NULL DEFAULT '{}',  -- GroupStatus: last metrics, decision, fault
    manual_desired    integer,                        -- SetDesiredSize not yet evaluated
    request_id        text,
    version           bigint  NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_scale_at     timestamptz,
    deleting_at       timestamptz,  -- DeleteScalingGroup is deleting the members
    PRIMARY KEY (project, id),
    -- What every writer keeps (the API refuses, the autoscaler clamps): a last line of defence.
    CHECK (min_size <= desired_size AND desired_size <= max_size)
) WITH (fillfactor = 70);  -- state and status are rewritten at every evaluation: HOT updates
CREATE UNIQUE INDEX scaling_groups_request_id ON scaling_groups (project, request_id)
    WHERE request_id IS NOT NULL;

-- A group's members are the live servers that name it, as for server groups (0006).
ALTER TABLE instances ADD COLUMN scaling_group text NOT NULL DEFAULT '';
CREATE INDEX instances_scaling_group ON instances (project, scaling_group)
    WHERE scaling_group <> '' AND deleted_at IS NULL;

-- History, newest first by id: decisions and members added, removed, replaced. The payload is
-- domain/scaling/records.py's Activity.to_json (server ids, not names).
CREATE TABLE scaling_activities (
    id          bigserial PRIMARY KEY,
    project     text NOT NULL,
    group_id    text NOT NULL,
    kind        text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    payload     jsonb NOT NULL
);
CREATE INDEX scaling_activities_group ON scaling_activities (project, group_id, id DESC);

-- Application metrics pushed with RecordGroupMetric: the latest value per member ('' = the
-- whole group). Upserted at the clients' pace: room for HOT updates.
CREATE TABLE group_metrics (
    project     text NOT NULL,
    group_id    text NOT NULL,
    metric      text NOT NULL,
    member      text NOT NULL DEFAULT '',
    value       double precision NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, group_id, metric, member)
) WITH (fillfactor = 50);
