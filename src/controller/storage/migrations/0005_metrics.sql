-- Live metrics (issue 4): the latest sample per host and per instance, written by the replica
-- the host's agent is connected to, in one upsert per table every persistence interval. Other
-- replicas read host rows into their fleet view; the in-memory view stays the source for
-- everything else. No foreign keys: metrics are advisory and must never fail a batch.

CREATE TABLE host_metrics (
    host_id         text PRIMARY KEY,
    sampled_at      timestamptz      NOT NULL,  -- the agent's clock
    received_at     timestamptz      NOT NULL,  -- the receiving controller's clock
    cpu_util        double precision NOT NULL,
    cpu_util_ewma   double precision NOT NULL,
    memory_used_mib bigint           NOT NULL,
    memory_free_mib bigint           NOT NULL,
    load1           double precision NOT NULL,
    load5           double precision NOT NULL,
    load15          double precision NOT NULL,
    simulated       boolean          NOT NULL
);

CREATE TABLE instance_metrics (
    uid              text PRIMARY KEY,  -- as the agent reported it (a canonical uuid)
    host_id          text             NOT NULL,
    sampled_at       timestamptz      NOT NULL,
    received_at      timestamptz      NOT NULL,
    cpu_util         double precision NOT NULL,
    cpu_util_ewma    double precision NOT NULL,
    memory_rss_mib   bigint           NOT NULL,
    disk_read_bytes  bigint           NOT NULL,
    disk_write_bytes bigint           NOT NULL,
    net_rx_bytes     bigint           NOT NULL,
    net_tx_bytes     bigint           NOT NULL,
    simulated        boolean          NOT NULL
);

-- Pruning rows of instances that stopped reporting (deleted, stopped, moved away).
CREATE INDEX instance_metrics_received ON instance_metrics (received_at);
