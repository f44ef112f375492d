"""`overcast group` against a real controller, as a person or a script would use it: the
group's members are real servers the controller creates, places and deletes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from devcluster.processes import Cluster

CLI = str(Path(sys.executable).with_name("overcast"))
SETTLE = "90"  # seconds a group may take to reach a size (autoscaler period, scheduling, spawn)


def overcast(cluster: Cluster, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OVERCAST_ENDPOINT": cluster.endpoint}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def ok(cluster: Cluster, *args: str) -> str:
    r = overcast(cluster, *args)
    assert r.returncode == 0, f"overcast {' '.join(args)}: {r.stderr}"
    assert "Traceback" not in r.stderr
    return r.stdout


def as_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(ok(cluster, *args, "-o", "json"))


def wait_size(cluster: Cluster, group: str, size: int) -> dict[str, Any]:
    """`group watch --until-size` as automation uses it; its last JSON line."""
    out = ok(
        cluster, "group", "watch", group, "-o", "json", "--until-size", str(size), "--wait-timeout", SETTLE
    )
    lines = out.splitlines()
    assert lines, "group watch printed nothing"
    last: dict[str, Any] = json.loads(lines[-1])
    return last


def new_name() -> str:
    return f"g{uuid.uuid4().hex[:6]}"


def _autoscaler_on() -> bool:
    """Whether this controller runs the autoscaler (the leader-run loop that creates and removes
    members), i.e. takes its leadership role: until it does, groups never get members."""
    controller = Path(__file__).resolve().parents[2] / "src" / "controller"
    return any(
        "Role.AUTOSCALER" in p.read_text() for p in controller.rglob("*.py") if p.name != "leadership.py"
    )


def test_group_create_show_resize_update_history_delete(cluster: Cluster, api: object) -> None:
    name = new_name()
    created = as_json(
        cluster,
        "group", "create", name, "--flavor", "m1.tiny", "--image", "cirros",
        "--min", "0", "--max", "3", "--desired", "0", "--metadata", "app=web",
        "--cpu-target", "60", "--no-scale-in", "--scale-in", "oldest",
        "--schedule", "night=0 3 * * *@Europe/Paris:max=2",
    )  # fmt: skip
    assert created["name"] == f"projects/demo/scalingGroups/{name}"
    assert (created["minSize"], created["maxSize"], created["desiredSize"]) == (0, 3, 0)
    assert [p["name"] for p in created["policies"]] == ["cpu"]
    assert created["scaleInRule"] == "SCALE_IN_RULE_OLDEST_FIRST"

    rows = ok(cluster, "group", "list").splitlines()
    assert rows[0].split()[:6] == ["NAME", "CURRENT", "DESIRED", "MIN", "MAX", "ACTIVE"]
    row = next(line.split() for line in rows if line.startswith(name + " "))
    assert row[2:5] == ["0", "0", "3"] and row[6] == "cpu"

    shown = ok(cluster, "group", "show", name).splitlines()
    details = dict(line.split(None, 1) for line in shown[: shown.index("")])
    assert details["flavor"] == "m1.tiny" and details["metadata"] == "app=web"
    assert details["scale_in_rule"] == "OLDEST_FIRST"
    # The controller fills in the defaults of what was not given, and show says them.
    assert details["policy/cpu"].startswith("target tracking: cpu_utilization at 60 per member")
    assert details["policy/cpu"].endswith("no scale-in")
    assert details["schedule/night"] == "night=0 3 * * *@Europe/Paris:max=2"

    assert as_json(cluster, "group", "set-size", name, "2")["desiredSize"] == 2
    beyond = overcast(cluster, "group", "set-size", name, "5")
    assert beyond.returncode == 1 and beyond.stderr.startswith("error: ")
    assert "[0, 3]" in beyond.stderr and "max_size" in beyond.stderr  # what to change first

    updated = as_json(
        cluster, "group", "update", name, "--max", "4", "--step", "cpu>=90:+1,cooldown=60", "-m", "tier=front"
    )
    assert (updated["minSize"], updated["maxSize"], updated["desiredSize"]) == (0, 4, 2)
    assert [p["name"] for p in updated["policies"]] == ["cpu", "cpu-high"]
    assert updated["policies"][1]["step"]["cooldown"] == "60s"
    template = updated["template"]
    assert template["flavor"] == "flavors/m1.tiny"  # what was not given stays
    assert template["metadata"] == {"app": "web", "tier": "front"}
    shown = ok(cluster, "group", "show", name).splitlines()
    details = dict(line.split(None, 1) for line in shown[: shown.index("")])
    assert details["policy/cpu-high"] == "step: cpu>=90:+1,cooldown=60s"  # as it was given

    history = as_json(cluster, "group", "history", name)
    times = [a["time"] for a in history]
    assert times == sorted(times, reverse=True)  # newest first
    assert ok(cluster, "group", "history", name).splitlines()[0].split() == [
        "TIME", "KIND", "SIZE", "RULE", "CLAMPED", "MEMBER", "DETAIL"
    ]  # fmt: skip

    record = json.loads(ok(cluster, "group", "watch", name, "--count", "1"))
    assert (record["desiredSize"], record["maxSize"]) == (2, 4)
    listed = ok(cluster, "server", "list", "--group", name, "-q").split()
    assert all(s.startswith(f"projects/demo/servers/{name}-") for s in listed)

    assert ok(cluster, "group", "delete", name, "--yes", "-q").strip() == created["name"]
    gone = overcast(cluster, "group", "show", name)
    assert gone.returncode == 1 and "not found" in gone.stderr


@pytest.mark.skipif(not _autoscaler_on(), reason="the controller does not run the autoscaler yet")
@pytest.mark.timeout(600)
def test_members_follow_the_group(cluster: Cluster, api: object) -> None:
    name = new_name()
    ok(cluster, "group", "create", name, "-f", "m1.tiny", "-i", "cirros", "--min", "1", "--max", "3",
       "--desired", "2", "-m", "app=web")  # fmt: skip
    last = wait_size(cluster, name, 2)
    members = [m["name"] for m in last["members"]]
    assert len(members) == 2 and all(m.startswith(f"projects/demo/servers/{name}-") for m in members)
    assert {m["vmState"] for m in last["members"]} == {"VM_STATE_ACTIVE"}

    # The members are ordinary servers, found by their group.
    assert sorted(ok(cluster, "server", "list", "--group", name, "-q").split()) == sorted(members)
    server = as_json(cluster, "server", "show", members[0])
    assert server["scalingGroup"] == f"projects/demo/scalingGroups/{name}"
    assert server["metadata"]["app"] == "web"

    ok(cluster, "group", "set-size", name, "3")
    assert len(wait_size(cluster, name, 3)["members"]) == 3
    table = ok(cluster, "group", "history", name).splitlines()
    assert sum(row.split()[1] == "member.added" for row in table[1:]) >= 3

    ok(cluster, "group", "delete", name, "--yes")
    deadline = time.monotonic() + float(SETTLE)
    while ok(cluster, "server", "list", "--group", name, "-q").split() and time.monotonic() < deadline:
        time.sleep(1)
    assert ok(cluster, "server", "list", "--group", name, "-q").split() == []


def test_bad_input_says_what_to_fix(cluster: Cluster, api: object) -> None:
    base = ["group", "create", "--flavor", "m1.tiny", "--image", "cirros"]
    sized = [*base, new_name(), "--min", "0", "--max", "2"]
    checks = [
        # (arguments, words stderr must hold); every one exits 2 without a traceback
        ([*base, "Bad_Name", "--min", "1", "--max", "2"], ["scaling_group_id"]),
        ([*base, new_name(), "--min", "3", "--max", "2"], ["max_size"]),
        ([*sized, "--step", "cpu>70:+1"], ["--step", "METRIC>=THRESHOLD"]),
        ([*sized, "--cpu-target", "150"], ["target"]),
        ([*sized, "--schedule", "n=0 3 * * *@Mars/Olympus:max=1"], ["time_zone"]),
    ]
    for args, words in checks:
        r = overcast(cluster, *args)
        assert r.returncode == 2, f"{args}: {r.returncode} {r.stderr}"
        assert "Traceback" not in r.stderr and r.stderr.startswith(("error: ", "Usage: "))
        assert all(w in r.stderr for w in words), f"{args}: {r.stderr}"


def test_metric_for_the_group_or_a_member(cluster: Cluster, api: object) -> None:
    name = new_name()
    ok(cluster, "group", "create", name, "-f", "m1.tiny", "-i", "cirros", "--min", "0", "--max", "2")
    try:
        said = ok(cluster, "group", "metric", name, "custom/queue", "7")
        assert said == f"recorded custom/queue=7 for group {name}\n"
        r = overcast(cluster, "group", "metric", name, "custom/queue", "7", "--member", "stranger")
        assert r.returncode == 2 and "member" in r.stderr and "Traceback" not in r.stderr
        r = overcast(cluster, "group", "metric", name, "cpu_utilization", "7")
        assert r.returncode == 2 and "custom/" in r.stderr
    finally:
        ok(cluster, "group", "delete", name, "--yes")


def test_watch_json_lines_for_scripts(cluster: Cluster, api: object) -> None:
    name = new_name()
    ok(cluster, "group", "create", name, "-f", "m1.tiny", "-i", "cirros", "--min", "0", "--max", "2")
    try:
        # Not a terminal: JSON lines even without -o json; --count ends it.
        out = ok(cluster, "group", "watch", name, "--count", "1")
        (line,) = out.splitlines()
        record = json.loads(line)
        assert record["name"] == f"projects/demo/scalingGroups/{name}"
        assert (record["desiredSize"], record["members"]) == (0, [])
        # A person's Ctrl-C (SIGINT) ends a watch without an error.
        env = {**os.environ, "OVERCAST_ENDPOINT": cluster.endpoint}
        proc = subprocess.Popen(
            [CLI, "group", "watch", name, "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.send_signal(2)
        assert proc.wait(timeout=10) == 0 and json.loads(first)["name"].endswith(name)
    finally:
        ok(cluster, "group", "delete", name, "--yes")
