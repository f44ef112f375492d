"""`overcast group` and `server list --group` through typer's CliRunner (not a terminal)
against the fake controller: what the CLI sends, what it prints, how it fails."""

from __future__ import annotations

import io
import json

import pytest
from client_fakes import FakeController, server
from rich.console import Console
from scaling_fakes import group
from typer.testing import CliRunner

from client import AsyncClient, Client
from client.cli import group_watch
from client.cli.main import app
from overcast.v1 import common_pb2
from overcast.v1 import scaling_group_pb2 as pb

runner = CliRunner()
WEB = "projects/demo/scalingGroups/web"


def run(endpoint: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--endpoint", endpoint, *args])
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def member(sid: str, cpu: float | None = None, **kwargs: object) -> object:
    s = server(sid, **kwargs)  # type: ignore[arg-type]
    s.scaling_group = WEB
    if cpu is not None:
        s.load.cpu_util = cpu
        s.load.cpu_util_ewma = cpu
    return s


@pytest.fixture
def web(fake: FakeController) -> FakeController:
    g = group("web")
    g.members.extend(["projects/demo/servers/web-aaaaa", "projects/demo/servers/web-bbbbb"])
    g.policies.append(
        pb.ScalingPolicy(
            name="cpu", target_tracking=pb.TargetTrackingPolicy(metric="cpu_utilization", target=60)
        )
    )
    g.status.metrics.add(policy="cpu", metric="cpu_utilization", value=72.5, target=60, reporting_members=2)
    g.status.last_decision = "target_tracking/cpu: 2 → 3"
    fake.scaling.add(g)
    fake.servers.add(member("web-aaaaa", 0.7), member("web-bbbbb", 0.75), server("loner"))
    return fake


def test_create_sends_the_template_policies_and_schedules(fake: FakeController) -> None:
    code, out, err = run(
        fake.endpoint,
        "group", "create", "web", "-f", "m1.small", "-i", "cirros", "--min", "1", "--max", "10",
        "--desired", "3", "-m", "app=web", "--zone", "az1", "--placement", "anti-affinity",
        "--cpu-target", "60", "--step", "custom/queue>=100:+1@0..50,+3@50..,cooldown=2m",
        "--simple", "cpu<=5:-1", "--scale-in", "oldest", "--protect", "web-pet",
        "--schedule", "night=0 22 * * *@Europe/Paris:max=2", "--health-grace", "90s",
    )  # fmt: skip
    assert code == 0, err
    (request,) = fake.scaling.of(pb.CreateScalingGroupRequest)
    g = request.scaling_group
    assert (request.parent, request.scaling_group_id) == ("projects/demo", "web")
    assert (g.template.flavor, g.template.image, dict(g.template.metadata)) == (
        "flavors/m1.small",
        "images/cirros",
        {"app": "web"},
    )
    assert g.template.availability_zone == "az1" and g.template.placement_policy == 2  # ANTI_AFFINITY
    assert (g.min_size, g.max_size, g.desired_size) == (1, 10, 3)
    assert [p.name for p in g.policies] == ["cpu", "queue-high", "cpu-low"]
    assert g.policies[0].target_tracking.target == 60 and g.policies[1].step.cooldown.seconds == 120
    assert g.scale_in_rule == pb.SCALE_IN_RULE_OLDEST_FIRST and g.health_grace.seconds == 90
    assert list(g.protected_members) == ["projects/demo/servers/web-pet"]
    assert g.scheduled_actions[0].time_zone == "Europe/Paris"
    # What it shows is the syntax it was given.
    rows = dict(line.split(None, 1) for line in out.splitlines() if line.startswith(("policy/", "schedule/")))
    assert rows == {
        "policy/cpu": "target tracking: cpu_utilization at 60 per member",
        "policy/queue-high": "step: custom/queue>=100:+1@0..50,+3@50..,cooldown=120s",
        "policy/cpu-low": "simple: cpu<=5:-1",
        "schedule/night": "night=0 22 * * *@Europe/Paris:max=2",
    }


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--step", "cpu>70:+1"], "'--step': expected METRIC>=THRESHOLD:... or METRIC<=THRESHOLD:..."),
        (["--step", "cpu>=70:+1@9..3"], "lower bound must be below its upper bound"),
        (["--simple", "cpu>=80:+1@0..5"], "'--simple': a simple policy takes one adjustment"),
        (["--schedule", "night=0 22 * *:max=1"], "'--schedule': the cron schedule takes 5 fields"),
        (["--metric", "custom/rps"], "--metric needs --target too"),
        (["--step", "cpu>=70:+1", "--step", "cpu>=90:+2"], "two policy entries are named 'cpu-high'"),
        (["--health-grace", "soon"], "'--health-grace': expected a duration"),
        (["-m", "novalue"], "expected KEY=VALUE"),
    ],
)
def test_bad_policy_syntax_is_a_usage_error_and_sends_nothing(
    fake: FakeController, flags: list[str], says: str
) -> None:
    base = ["group", "create", "web", "-f", "m1.small", "-i", "cirros", "--min", "1", "--max", "3"]
    code, out, err = run(fake.endpoint, *base, *flags)
    assert code == 2 and out == ""
    assert says in " ".join(err.split())  # click wraps its message: compare words
    assert fake.scaling.requests == []


def test_bad_placement_names_the_field(fake: FakeController) -> None:
    base = ["group", "create", "web", "-f", "m1.small", "-i", "cirros", "--min", "1", "--max", "3"]
    code, _, err = run(fake.endpoint, *base, "--placement", "sideways")
    assert code == 2
    assert err.startswith("error: template.placement_policy: must be one of AFFINITY, ANTI_AFFINITY")


def test_controller_violation_is_said_as_what_to_fix(fake: FakeController) -> None:
    base = ["group", "create", "web", "-f", "m1.small", "-i", "cirros"]
    code, _, err = run(fake.endpoint, *base, "--min", "5", "--max", "3")
    assert (code, err) == (2, "error: scaling_group.max_size: must be at least min_size (5)\n")


def test_list_table_names_and_pages(fake: FakeController) -> None:
    fake.scaling.add(group("web"), group("api", desired=3, current=1), group("batch", min_size=0))
    fake.scaling.groups["projects/demo/scalingGroups/api"].status.fault = "no valid host: 3 hosts full"
    code, out, _ = run(fake.endpoint, "group", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == list(
        ("NAME", "CURRENT", "DESIRED", "MIN", "MAX", "ACTIVE", "POLICIES", "FLAVOR", "IMAGE", "FAULT")
    )
    assert lines[2].split()[:9] == ["api", "1", "3", "1", "4", "1", "-", "m1.small", "cirros"]
    assert lines[2].endswith("no valid host: 3 hosts full")
    assert len(lines) == 4  # three groups over two pages
    code, out, _ = run(fake.endpoint, "group", "list", "-q", "-p", "other")
    assert (code, out) == (0, "")
    assert fake.scaling.of(pb.ListScalingGroupsRequest)[-1].parent == "projects/other"


def test_show_prints_metrics_against_targets_and_members_load(web: FakeController) -> None:
    code, out, _ = run(web.endpoint, "group", "show", "web")
    assert code == 0
    lines = out.splitlines()
    details = dict(line.split(None, 1) for line in lines[: lines.index("")])
    assert details["desired_size"] == "2" and details["last_decision"] == "target_tracking/cpu: 2 → 3"
    assert details["members"] == "web-aaaaa, web-bbbbb" and details["scale_in_rule"] == "NEWEST_FIRST"
    metrics = lines.index(next(line for line in lines if line.startswith("POLICY")))
    assert lines[metrics + 1].split() == ["cpu", "cpu_utilization", "72.5", "60", "2"]
    members = lines.index(next(line for line in lines if line.startswith("NAME")))
    assert lines[members + 1].split() == [
        "web-aaaaa",
        "ACTIVE",
        "-",
        "RUNNING",
        "host-1",
        "70.0",
        "70.0",
        "no",
    ]
    assert len(lines) == members + 3  # its two members, not the loner
    assert web.servers.list_requests[-1].scaling_group == WEB


def test_show_json_is_the_group(web: FakeController) -> None:
    code, out, _ = run(web.endpoint, "group", "show", "web", "-o", "json")
    assert code == 0 and json.loads(out)["status"]["metrics"][0]["value"] == 72.5


def test_set_size_and_out_of_range(web: FakeController) -> None:
    code, out, _ = run(web.endpoint, "group", "set-size", "web", "4", "-o", "json")
    assert code == 0 and json.loads(out)["desiredSize"] == 4
    code, _, err = run(web.endpoint, "group", "set-size", "web", "9")
    assert (code, err) == (1, "error: desired_size 9 is outside [1, 4]: change max_size first\n")


def test_update_sends_only_what_is_given(web: FakeController) -> None:
    code, _, err = run(
        web.endpoint, "group", "update", "web", "--max", "8", "--step", "cpu>=90:+2", "--flavor", "m1.big",
        "-m", "tier=front",
    )  # fmt: skip
    assert code == 0, err
    (request,) = web.scaling.of(pb.UpdateScalingGroupRequest)
    assert list(request.update_mask.paths) == ["max_size", "template", "policies"]
    assert request.etag == "1"
    g = web.scaling.groups[WEB]
    assert (g.max_size, g.min_size) == (8, 1)
    # The template keeps what was not given; the new policy joins the one the group had.
    assert (g.template.flavor, g.template.image) == ("flavors/m1.big", "images/cirros")
    assert dict(g.template.metadata) == {"app": "web", "tier": "front"}
    assert [p.name for p in g.policies] == ["cpu", "cpu-high"]


def test_update_replaces_and_removes_by_name(web: FakeController) -> None:
    code, _, err = run(web.endpoint, "group", "update", "web", "--cpu-target", "75", "--protect", "web-aaaaa")
    assert code == 0, err
    g = web.scaling.groups[WEB]
    assert [(p.name, p.target_tracking.target) for p in g.policies] == [("cpu", 75.0)]
    assert list(g.protected_members) == ["projects/demo/servers/web-aaaaa"]
    code, _, _ = run(
        web.endpoint, "group", "update", "web", "--remove-policy", "cpu", "--unprotect", "web-aaaaa"
    )
    assert code == 0
    paths = list(web.scaling.of(pb.UpdateScalingGroupRequest)[-1].update_mask.paths)
    assert paths == ["policies", "protected_members"]
    assert not web.scaling.groups[WEB].policies and not web.scaling.groups[WEB].protected_members


def test_update_retries_when_the_group_moved(web: FakeController) -> None:
    web.scaling.abort_updates = 1
    code, _, err = run(web.endpoint, "group", "update", "web", "--scale-in", "least-loaded")
    assert code == 0, err
    etags = [r.etag for r in web.scaling.of(pb.UpdateScalingGroupRequest)]
    assert etags == ["1", "2"]  # read again, written with the new etag
    assert web.scaling.groups[WEB].scale_in_rule == pb.SCALE_IN_RULE_LEAST_LOADED


def test_update_without_changes_is_a_usage_error(web: FakeController) -> None:
    code, _, err = run(web.endpoint, "group", "update", "web")
    assert code == 2 and "nothing to change" in err
    assert not web.scaling.of(pb.UpdateScalingGroupRequest)


def test_delete_asks_first(web: FakeController) -> None:
    code, _, err = run(web.endpoint, "group", "delete", "web")
    assert code == 2 and "without --yes" in err and "its 2 member(s)" in err
    assert WEB in web.scaling.groups
    code, out, _ = run(web.endpoint, "group", "delete", "web", "--keep-members", "--yes", "-o", "name")
    assert (code, out) == (0, WEB + "\n")
    (request,) = web.scaling.of(pb.DeleteScalingGroupRequest)
    assert request.keep_members and WEB not in web.scaling.groups


def test_history_newest_first_with_limit(web: FakeController) -> None:
    decision = pb.ScalingActivity(
        kind="scaling.decision",
        current_size=2,
        previous_desired=2,
        desired_size=4,
        rule="target_tracking/cpu",
    )
    decision.time.FromSeconds(1_700_000_100)
    decision.clamped.append("max_size 4 (wanted 6)")
    replaced = pb.ScalingActivity(
        kind="scaling.member.replaced",
        current_size=2,
        desired_size=2,
        member="projects/demo/servers/web-ccccc",
        reason="host host-2 DOWN for 75 s",
        replacement="projects/demo/servers/web-ddddd",
    )
    replaced.time.FromSeconds(1_700_000_000)
    web.scaling.activities[WEB] = [decision, replaced, pb.ScalingActivity(kind="scaling.decision")]
    code, out, _ = run(web.endpoint, "group", "history", "web", "--limit", "2")
    assert code == 0
    header, first, second = out.splitlines()
    assert header.split() == ["TIME", "KIND", "SIZE", "RULE", "CLAMPED", "MEMBER", "DETAIL"]
    assert first.split() == [
        "2023-11-14T22:15:00Z", "decision", "2→4", "target_tracking/cpu",
        "max_size", "4", "(wanted", "6)", "-", "-",
    ]  # fmt: skip
    assert second.split()[1:4] == ["member.replaced", "2→2", "-"]
    assert second.endswith("web-ccccc  host host-2 DOWN for 75 s; replaced by web-ddddd")


def test_metric_records_for_a_member(web: FakeController) -> None:
    code, out, _ = run(
        web.endpoint, "group", "metric", "web", "custom/queue", "42.5", "--member", "web-aaaaa"
    )
    assert (code, out) == (0, "recorded custom/queue=42.5 for member web-aaaaa\n")
    (request,) = web.scaling.of(pb.RecordGroupMetricRequest)
    assert (request.name, request.metric, request.value) == (WEB, "custom/queue", 42.5)
    assert request.member == "projects/demo/servers/web-aaaaa"


def test_server_list_group_filter(web: FakeController) -> None:
    code, out, _ = run(web.endpoint, "server", "list", "--group", "web", "-q")
    assert (code, out.split()) == (0, ["projects/demo/servers/web-aaaaa", "projects/demo/servers/web-bbbbb"])
    assert web.servers.list_requests[-1].scaling_group == WEB


def test_watch_prints_a_json_line_per_change(web: FakeController) -> None:
    loads = iter([0.7, 0.7, 0.9])  # the second poll shows nothing new: no line for it

    def next_load() -> None:
        cpu = next(loads, 0.9)
        web.servers.servers["projects/demo/servers/web-aaaaa"].load.cpu_util_ewma = cpu

    web.servers.on_list = next_load
    code, out, _ = run(web.endpoint, "group", "watch", "web", "--interval", "0.1", "--count", "2")
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert [m["cpuPercent"] for m in first["members"]] == [70.0, 75.0]
    assert [m["cpuPercent"] for m in second["members"]] == [90.0, 75.0]
    assert first["metrics"] == [
        {"policy": "cpu", "metric": "cpu_utilization", "value": 72.5, "target": 60.0, "reportingMembers": 2}
    ]
    assert (first["desiredSize"], first["members"][0]["vmState"]) == (2, "VM_STATE_ACTIVE")
    assert len(web.servers.list_requests) == 3


def test_watch_until_size(web: FakeController) -> None:
    building = member("web-ccccc", vm=common_pb2.VM_STATE_BUILDING, task=common_pb2.TASK_STATE_SPAWNING)
    web.servers.add(building)
    polls = []

    def settle() -> None:
        polls.append(1)
        if len(polls) == 3:
            web.servers.add(member("web-ccccc"))

    web.servers.on_list = settle
    code, out, _ = run(web.endpoint, "group", "watch", "web", "--interval", "0.1", "--until-size", "3")
    assert code == 0 and len(polls) == 3
    assert json.loads(out.splitlines()[-1])["members"][2]["vmState"] == "VM_STATE_ACTIVE"
    code, _, err = run(web.endpoint, "group", "watch", "web", "--until-size", "4", "--wait-timeout", "0.3")
    assert code == 1
    assert (
        err == "error: scaling group web did not reach 4 members within 0.3s (it has 3, 3 of them active)\n"
    )


def test_watch_of_a_missing_group(fake: FakeController) -> None:
    code, out, err = run(fake.endpoint, "group", "watch", "ghost", "--count", "1")
    assert (code, out) == (1, "") and "not found" in err


def test_live_view_shows_targets_and_members(web: FakeController) -> None:
    with Client(web.endpoint) as oc:
        snapshot = group_watch.fetch(oc, "web", "demo")
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(group_watch.render(snapshot, "12:00:00"))
    lines = [line.rstrip() for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]
    assert lines[0].startswith("web  desired 2  current 2  active 2  (min 1, max 4)")
    assert any(line.split() == ["cpu", "cpu_utilization", "72.5", "60", "2"] for line in lines)
    assert any(
        line.split()[:6] == ["web-bbbbb", "ACTIVE", "-", "RUNNING", "host-1", "75.0"] for line in lines
    )


async def test_async_client_scaling_calls(web: FakeController) -> None:
    async with AsyncClient(web.endpoint) as oc:
        assert [g.name async for g in oc.list_scaling_groups()] == [WEB]
        resized = await oc.set_desired_size("web", 3)
        assert resized.desired_size == 3
        await oc.record_group_metric("projects/demo/scalingGroups/web", "custom/rps", 10)
        assert await oc.list_scaling_activities("web") == []
        members = [s.name async for s in oc.list_servers(scaling_group="web")]
        await oc.delete_scaling_group("web", keep_members=True)
    assert members == ["projects/demo/servers/web-aaaaa", "projects/demo/servers/web-bbbbb"]
    assert web.scaling.of(pb.DeleteScalingGroupRequest)[0].keep_members
