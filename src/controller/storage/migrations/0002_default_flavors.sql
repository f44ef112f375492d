-- The default flavors, as Nova has always shipped them.
INSERT INTO flavors (id, vcpus, memory_mib, disk_gib, description) VALUES
    ('m1.tiny',   1,   512,   1, 'default'),
    ('m1.small',  1,  2048,  20, 'default'),
    ('m1.medium', 2,  4096,  40, 'default'),
    ('m1.large',  4,  8192,  80, 'default'),
    ('m1.xlarge', 8, 16384, 160, 'default')
ON CONFLICT (id) DO NOTHING;
