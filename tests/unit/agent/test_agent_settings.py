from __future__ import annotations

import pytest

from agent.settings import parse_settings


def test_defaults() -> None:
    s = parse_settings([], env={})
    assert s.controller == "127.0.0.1:50051"
    assert s.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert s.bus_prefix == "overcast"
    assert s.libvirt_uri == "test:///default"
    assert s.availability_zone == "az1"
    assert s.disk_gib == 1000
    assert s.heartbeat_interval == 1.0
    assert s.admin_listen == ""
    assert s.log_format == "console"
    assert s.host_id  # the hostname


def test_env_then_flags() -> None:
    env = {
        "OVERCAST_HOST_ID": "h-env",
        "OVERCAST_BUS_PREFIX": "p-env",
        "OVERCAST_AGENT_ADMIN": "127.0.0.1:7000",
        "OVERCAST_DISK_GIB": "20",
    }
    s = parse_settings(["--bus-prefix", "p-flag", "--log-format", "json"], env=env)
    assert (s.host_id, s.bus_prefix, s.admin_listen, s.disk_gib, s.log_format) == (
        "h-env",
        "p-flag",
        "127.0.0.1:7000",
        20,
        "json",
    )


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--disk-gib", "-1"], {}),
        (["--heartbeat-interval", "0"], {}),
        (["--admin-listen", "nonsense"], {}),
        (["--log-format", "xml"], {}),
        (["--no-such-flag"], {}),
        ([], {"OVERCAST_LOG_FORMAT": "xml"}),
        ([], {"OVERCAST_HEARTBEAT_INTERVAL": "soon"}),
    ],
)
def test_bad_input_exits_2(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_settings(argv, env=env)
    assert exc.value.code == 2
