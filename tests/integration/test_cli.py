"""The `overcast` CLI against a real controller, as a person or a script would use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from client import Client
from devcluster.processes import Cluster

CLI = str(Path(sys.executable).with_name("overcast"))


def overcast(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OVERCAST_ENDPOINT": cluster.endpoint}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_create_wait_list_show_delete(cluster: Cluster, api: object) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = overcast(
        cluster, "server", "create", name, "--flavor", "m1.tiny", "--image", "cirros", "--wait"
    )
    assert created.returncode == 0, created.stderr
    progress = created.stdout + created.stderr
    assert "SCHEDULING" in progress and "ACTIVE" in progress

    listed = overcast(cluster, "-o", "json", "server", "list", "--state", "ACTIVE")
    assert listed.returncode == 0, listed.stderr
    servers = {s["name"]: s for s in json.loads(listed.stdout)}
    mine = servers[f"projects/demo/servers/{name}"]
    assert mine["vmState"] == "VM_STATE_ACTIVE" and mine["host"].startswith("hosts/host-")

    table = overcast(cluster, "server", "list")
    row = next(line for line in table.stdout.splitlines() if line.startswith(name))
    assert "ACTIVE" in row and "RUNNING" in row and mine["host"].split("/")[1] in row

    # The sync client sees what the CLI did.
    with Client(cluster.endpoint) as sync:
        assert sync.get_server(name).uid == mine["uid"]

    deleted = overcast(cluster, "server", "delete", name, "--wait")
    assert deleted.returncode == 0, deleted.stderr
    shown = overcast(cluster, "server", "show", name)
    assert shown.returncode == 1 and "not found" in shown.stderr


def test_bad_input_exits_2_with_what_to_fix(cluster: Cluster, api: object) -> None:
    r = overcast(cluster, "server", "create", "Bad_Name", "--flavor", "m1.tiny", "--image", "cirros")
    assert r.returncode == 2
    assert "server_id" in r.stderr and "lowercase" in r.stderr
    assert "Traceback" not in r.stderr


def test_host_list_shows_usage_and_state(cluster: Cluster, api: object) -> None:
    r = overcast(cluster, "-o", "json", "host", "list")
    assert r.returncode == 0, r.stderr
    hosts = {h["name"]: h for h in json.loads(r.stdout)}
    assert {"hosts/host-1", "hosts/host-2", "hosts/host-3"} <= set(hosts)
    assert all(h["state"] == "HOST_STATE_UP" and h["vcpus"] == 16 for h in hosts.values())
