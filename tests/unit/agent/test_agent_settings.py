from __future__ import annotations

import pytest

from agent.settings import AgentSettings


def test_defaults() -> None:
    s = AgentSettings.load([], env={})
    assert s.controller.address == "127.0.0.1:50051"
    assert s.bus.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert s.bus.prefix == "overcast"
    assert s.hypervisor.libvirt_uri == "test:///default"
    assert s.host.availability_zone == "az1"
    assert s.host.disk_gib == 1000
    assert s.heartbeats.interval_s == 1.0
    assert s.admin.listen == ""
    assert (s.log.format, s.log.level) == ("console", "info")
    assert s.host.id  # the hostname


def test_env_then_flags() -> None:
    env = {
        "OVERCAST_HOST_ID": "h-env",
        "OVERCAST_BUS_PREFIX": "p-env",
        "OVERCAST_ADMIN_LISTEN": "127.0.0.1:7000",
        "OVERCAST_DISK_GIB": "20",
        "OVERCAST_STOP_TIMEOUT": "2.5",
    }
    s = AgentSettings.load(["--bus-prefix", "p-flag", "--log-format", "json"], env=env)
    assert (s.host.id, s.bus.prefix, s.admin.listen, s.host.disk_gib, s.log.format) == (
        "h-env",
        "p-flag",
        "127.0.0.1:7000",
        20,
        "json",
    )
    assert s.hypervisor.stop_timeout_s == 2.5


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["--disk-gib", "-1"], {}, "--disk-gib / OVERCAST_DISK_GIB: must be at least 0 (got -1)"),
        (
            ["--heartbeat-interval", "0"],
            {},
            "--heartbeat-interval / OVERCAST_HEARTBEAT_INTERVAL: must be greater than 0 (got 0)",
        ),
        (
            ["--admin-listen", "nonsense"],
            {},
            "--admin-listen / OVERCAST_ADMIN_LISTEN: must be HOST:PORT, or empty for none (got nonsense)",
        ),
        ([], {"OVERCAST_HOST_ID": " "}, "--host-id / OVERCAST_HOST_ID: must not be empty (got ' ')"),
        (
            [],
            {"OVERCAST_DOMAIN_TYPE": "xen"},
            "--domain-type / OVERCAST_DOMAIN_TYPE: must be one of auto, kvm, qemu (got xen)",
        ),
        ([], {"OVERCAST_PREFETCH": "0"}, "--prefetch / OVERCAST_PREFETCH: must be at least 1 (got 0)"),
    ],
)
def test_bad_input_is_one_line_and_exits_2(argv: list[str], env: dict[str, str], line: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        AgentSettings.load(argv, env=env)
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"overcast agent: {line}\n"
