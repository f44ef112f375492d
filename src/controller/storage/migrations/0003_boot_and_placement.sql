-- Real VMs (issue 3) and placement constraints (issue 4): what a server boots and where it
-- may go, snapshotted at create time; image data; the domain type a host runs guests as.

ALTER TABLE instances
    ADD COLUMN availability_zone text  NOT NULL DEFAULT '',
    ADD COLUMN server_group      text  NOT NULL DEFAULT '',
    -- root_image / kernel / ramdisk: {name, disk_format, size_bytes, checksum_sha256};
    -- kernel_args: text. Frozen at create so a later image change cannot alter a server.
    ADD COLUMN boot              jsonb NOT NULL DEFAULT '{}';

ALTER TABLE images
    ADD COLUMN kernel_image       text   NOT NULL DEFAULT '',
    ADD COLUMN ramdisk_image      text   NOT NULL DEFAULT '',
    ADD COLUMN kernel_args        text   NOT NULL DEFAULT '',
    ADD COLUMN virtual_size_bytes bigint NOT NULL DEFAULT 0;

ALTER TABLE hosts
    ADD COLUMN domain_type text NOT NULL DEFAULT '';

-- The view must list the new host column too.
DROP VIEW hosts_view;
CREATE VIEW hosts_view AS
    SELECT h.*, s.state, s.last_heartbeat FROM hosts h JOIN host_status s USING (id);
