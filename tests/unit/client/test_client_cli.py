"""The `overcast` CLI through typer's CliRunner (not a terminal: plain output)."""

from __future__ import annotations

import json

import pytest
from client_fakes import FakeController, server
from typer.testing import CliRunner

from client.cli.main import app
from overcast.v1 import common_pb2, server_pb2

runner = CliRunner()


def run(endpoint: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--endpoint", endpoint, *args])
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_bad_meta_is_a_usage_error(dead_endpoint: str) -> None:
    code, _, err = run(
        dead_endpoint,
        "server",
        "create",
        "web-1",
        "--flavor",
        "f",
        "--image",
        "i",
        "--meta",
        "no-equals-sign",
    )
    assert code == 2
    assert "--property" in err and "expected KEY=VALUE, got 'no-equals-sign'" in err


def test_bad_state_filter_is_a_usage_error(dead_endpoint: str) -> None:
    code, _, err = run(dead_endpoint, "server", "list", "--state", "SLEEPY")
    assert code == 2 and "--state" in err


def test_bad_output_format_is_a_usage_error(dead_endpoint: str) -> None:
    code, _, _ = run(dead_endpoint, "-o", "xml", "server", "list")
    assert code == 2


def test_unreachable_controller(dead_endpoint: str) -> None:
    code, out, err = run(dead_endpoint, "server", "list")
    assert code == 1
    assert out == ""
    assert err.startswith(f"error: cannot reach the controller at {dead_endpoint}: ")
    assert "OVERCAST_ENDPOINT" in err


def test_endpoint_from_environment(dead_endpoint: str) -> None:
    result = runner.invoke(app, ["host", "list"], env={"OVERCAST_ENDPOINT": dead_endpoint})
    assert result.exit_code == 1 and dead_endpoint in result.stderr


def test_field_violations_exit_2(fake: FakeController) -> None:
    code, _, err = run(fake.endpoint, "server", "create", "invalid", "--flavor", "m1.nope", "--image", "c")
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == "error: invalid server"
    assert "  - server.flavor: flavor m1.nope does not exist" in lines


def test_failed_precondition_exit_1(fake: FakeController) -> None:
    code, _, err = run(fake.endpoint, "server", "reboot", "busy")
    assert (code, err) == (1, "error: server busy is BUILDING\n")


def test_server_list_table(fake: FakeController) -> None:
    fake.servers.add(server("web-1"), server("web-2", common_pb2.VM_STATE_ERROR, fault="no valid host"))
    code, out, _ = run(fake.endpoint, "server", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "TASK", "POWER", "HOST", "FLAVOR", "IMAGE", "FAULT"]
    assert lines[1].split() == ["web-1", "ACTIVE", "-", "RUNNING", "host-1", "m1.small", "cirros", "-"]
    assert lines[2].split()[:2] == ["web-2", "ERROR"] and lines[2].endswith("no valid host")
    assert "\x1b" not in out and "─" not in out  # no colour, no box drawing


def test_server_list_json(fake: FakeController) -> None:
    fake.servers.add(server("web-1"), server("web-2"), server("web-3"))
    code, out, _ = run(fake.endpoint, "-o", "json", "server", "list")
    assert code == 0
    servers = json.loads(out)
    assert [s["name"] for s in servers] == [f"projects/demo/servers/web-{i}" for i in (1, 2, 3)]


def test_host_list_table(fake: FakeController) -> None:
    code, out, _ = run(fake.endpoint, "host", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "NAME    STATE  ENABLED  VCPUS  MEMORY      SERVERS  CPU%  CPU% EWMA  MEM USED  METRICS"
        "    AZ    HYPERVISOR  LAST HEARTBEAT"
    )
    assert lines[1].split() == [
        "host-1",
        "UP",
        "yes",
        "4/32",
        "2GiB/64GiB",
        "2",
        "25.0",
        "20.0",
        "1GiB",
        "sim",
        "az-1",
        "test",
        "2023-11-14T22:13:20Z",
    ]
    assert lines[2].split()[:3] == ["host-2", "DOWN", "no"]
    assert lines[2].split()[6:10] == ["50.0", "45.0", "1GiB", "sim,stale"]
    assert lines[3].split()[6:10] == ["-", "-", "-", "-"]  # no metrics yet


def test_flavor_delete(fake: FakeController) -> None:
    assert run(fake.endpoint, "flavor", "delete", "m1.small")[:2] == (0, "deleted flavor m1.small\n")
    code, out, _ = run(fake.endpoint, "-o", "json", "flavor", "list")
    assert code == 0 and json.loads(out)[0]["memoryMib"] == "2048"


def test_create_wait_prints_progress(fake: FakeController) -> None:
    fake.servers.script = [
        (
            0.02,
            server(
                "web-1",
                common_pb2.VM_STATE_BUILDING,
                common_pb2.TASK_STATE_SPAWNING,
                common_pb2.POWER_STATE_UNSPECIFIED,
            ),
        ),
        (
            0.02,
            server(
                "web-1",
                common_pb2.VM_STATE_BUILDING,
                common_pb2.TASK_STATE_SPAWNING,
                common_pb2.POWER_STATE_UNSPECIFIED,
            ),
        ),  # no new line
        (0.02, server("web-1", common_pb2.VM_STATE_ACTIVE)),
    ]
    code, out, _ = run(
        fake.endpoint,
        "server",
        "create",
        "web-1",
        "--flavor",
        "m1.small",
        "--image",
        "cirros",
        "--meta",
        "role=web",
        "--wait",
    )
    assert code == 0
    progress = [line for line in out.splitlines() if "vm_state=" in line]
    assert [line.split("  ", 1)[1] for line in progress] == [
        "web-1  vm_state=BUILDING task_state=SCHEDULING power_state=-  host=-",
        "web-1  vm_state=BUILDING task_state=SPAWNING power_state=-  host=host-1",
        "web-1  vm_state=ACTIVE task_state=- power_state=RUNNING  host=host-1",
    ]
    assert fake.servers.servers["projects/demo/servers/web-1"].metadata["role"] == "web"


def test_wait_json_keeps_stdout_clean(fake: FakeController) -> None:
    fake.servers.add(server("web-1", task=common_pb2.TASK_STATE_POWERING_OFF))
    fake.servers.script = [
        (0.02, server("web-1", common_pb2.VM_STATE_STOPPED, power=common_pb2.POWER_STATE_SHUTDOWN))
    ]
    code, out, err = run(fake.endpoint, "-o", "json", "server", "stop", "web-1", "--wait")
    assert code == 0
    assert json.loads(out)["vmState"] == "VM_STATE_STOPPED"
    assert "vm_state=STOPPED" in err


def test_wait_error_exits_1_with_fault(fake: FakeController) -> None:
    fake.servers.script = [(0.02, server("web-1", common_pb2.VM_STATE_ERROR, fault="No valid host"))]
    code, _, err = run(fake.endpoint, "server", "create", "web-1", "--flavor", "f", "--image", "i", "--wait")
    assert code == 1
    assert "error: server web-1 is in ERROR: No valid host" in err


def test_delete_wait_until_gone(fake: FakeController) -> None:
    fake.servers.add(server("web-1"))
    fake.servers.script = [
        (0.02, server("web-1", common_pb2.VM_STATE_DELETED, power=common_pb2.POWER_STATE_UNSPECIFIED))
    ]
    code, out, _ = run(fake.endpoint, "server", "delete", "web-1", "--wait")
    assert code == 0
    assert out.splitlines()[-1].endswith("web-1  deleted")


def test_wait_timeout(fake: FakeController) -> None:
    fake.servers.add(server("web-1", common_pb2.VM_STATE_ACTIVE))
    code, _, err = run(fake.endpoint, "server", "stop", "web-1", "--wait", "--wait-timeout", "0.3")
    assert code == 1
    assert "timed out after 0.3s waiting for server web-1" in err


def test_host_show_summarises_its_load(fake: FakeController) -> None:
    code, out, _ = run(fake.endpoint, "host", "show", "host-2")
    assert code == 0
    load = next(line for line in out.splitlines() if line.startswith("load"))
    assert load.split(None, 1)[1] == (
        "cpu 50.0% (ewma 45.0%), mem used 1GiB, free 31GiB, load 1.50 1.00 0.50,"
        " sampled 2023-11-14T22:13:20Z, simulated, stale"
    )
    _, out, _ = run(fake.endpoint, "host", "show", "host-3")
    assert [line.split() for line in out.splitlines() if line.startswith("load")] == [["load", "-"]]


def test_server_set_meta_merges_and_unsets(fake: FakeController) -> None:
    web = server("web-1")
    web.metadata.update({"keep": "1", "drop": "2"})
    web.etag = "7"
    fake.servers.add(web)
    code, out, err = run(fake.endpoint, "server", "set-meta", "web-1", "sim.cpu=0.7", "--unset", "drop")
    assert code == 0, err
    (update,) = fake.servers.updates
    assert list(update.update_mask.paths) == ["metadata"]
    assert dict(update.server.metadata) == {"keep": "1", "sim.cpu": "0.7"}
    assert update.server.etag == "7"  # read-modify-write on the etag just read
    assert "keep=1, sim.cpu=0.7" in out
    code, _, err = run(fake.endpoint, "server", "set-meta", "web-1")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = run(fake.endpoint, "server", "set-meta", "web-1", "novalue")
    assert code == 2 and "expected KEY=VALUE" in err


def test_host_watch_metrics_prints_lines_and_json_lines(fake: FakeController) -> None:
    code, out, err = run(fake.endpoint, "host", "watch-metrics", "host-1", "--count", "2", "--instances")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        "2023-11-14T22:13:20Z  host-1  cpu 0.0% ewma 0.0%  mem used 1GiB free 31GiB  load 1.50  sim"
    )
    assert lines[1] == "    web-1  cpu 70.0% ewma 0.0%  rss 256MiB  sim"
    assert len(lines) == 4
    assert [list(r.hosts) for r in fake.hosts.watch_requests] == [["hosts/host-1"]]
    code, out, _ = run(fake.endpoint, "-o", "json", "host", "watch-metrics", "--count", "3")
    assert code == 0
    updates = [json.loads(line) for line in out.splitlines()]
    assert [u["host"] for u in updates] == ["hosts/host-1"] * 3
    assert updates[2]["load"]["cpuUtil"] == pytest.approx(0.2) and updates[0]["instances"] == []


def test_server_show_says_when_its_load_is_stale(fake: FakeController) -> None:
    web = server("web-1", common_pb2.VM_STATE_ACTIVE)
    web.load.CopyFrom(server_pb2.InstanceLoad(cpu_util=0.25, memory_rss_mib=128, simulated=True, stale=True))
    fake.servers.add(web)
    code, out, err = run(fake.endpoint, "server", "show", "web-1")
    assert code == 0, err
    load = next(line for line in out.splitlines() if line.startswith("load"))
    assert load.split(None, 1)[1].startswith("cpu 25.0% (ewma 0.0%), rss 128MiB")
    assert load.endswith("simulated, stale")


def test_server_create_can_boot_another_kernel_ramdisk_and_command_line(fake: FakeController) -> None:
    code, _, err = run(
        fake.endpoint,
        "server",
        "create",
        "web-9",
        "--flavor",
        "m1.tiny",
        "--image",
        "tiny-root",
        "--kernel",
        "tiny-kernel",
        "--ramdisk",
        "images/tiny-initrd",
        "--kernel-args",
        "console=ttyS0 overcast.burn=1",
    )
    assert code == 0, err
    (req,) = fake.servers.created
    s = req.server
    assert (s.image, s.kernel_image) == ("images/tiny-root", "images/tiny-kernel")
    assert s.ramdisk_image == "images/tiny-initrd"
    assert s.kernel_args == "console=ttyS0 overcast.burn=1"
