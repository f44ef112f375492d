"""Controller settings: what a user found wrong (values taken unchecked from the environment,
tracebacks, settings without a variable), derived defaults, and the settings handed to the
scheduler and relay child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.domain.host_health import scaled_interval
from controller.settings import ControllerSettings
from daemon.settings import CHILD_VARIABLE

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"OVERCAST_HEARTBEAT_INTERVAL": "-3"},
            "--heartbeat-interval / OVERCAST_HEARTBEAT_INTERVAL: must be greater than 0 (got -3)",
        ),
        (
            {"OVERCAST_CPU_ALLOCATION_RATIO": "-1"},
            "--cpu-allocation-ratio / OVERCAST_CPU_ALLOCATION_RATIO: must be greater than 0 (got -1)",
        ),
        (
            {"OVERCAST_SCHEDULER_BATCH": "abc"},
            "--scheduler-batch / OVERCAST_SCHEDULER_BATCH: must be a whole number, at least 1 (got abc)",
        ),
        (
            {"OVERCAST_LOAD_TARGET": "0"},
            "--load-target / OVERCAST_LOAD_TARGET: must be greater than 0 and less than 1 (got 0)",
        ),
        (
            {"OVERCAST_PLACEMENT_STRATEGY": "random"},
            "--placement-strategy / OVERCAST_PLACEMENT_STRATEGY: must be one of spread, pack (got random)",
        ),
    ],
)
def test_values_from_the_environment_are_checked(env: dict[str, str], line: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        ControllerSettings.load([], env)
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"overcast controller: {line}\n"


def test_settings_that_had_no_variable_have_one() -> None:
    s = ControllerSettings.load(
        [],
        {
            "OVERCAST_GRACE": "7",
            "OVERCAST_HOST_DOWN_AFTER": "11",
            "OVERCAST_METRICS_STALE_AFTER": "13",
            "OVERCAST_LOG_LEVEL": "debug",
        },
    )
    assert (s.api.grace_s, s.heartbeats.host_down_after_s, s.metrics.stale_after_s, s.log.level) == (
        7.0,
        11.0,
        13.0,
        "debug",
    )


def test_windows_default_to_three_intervals() -> None:
    s = ControllerSettings.load(["--heartbeat-interval", "2"], {"OVERCAST_METRICS_INTERVAL": "0.5"})
    assert (s.heartbeats.host_down_after_s, s.metrics.stale_after_s) == (6.0, 1.5)
    given = ControllerSettings.load(["--heartbeat-interval", "2", "--host-down-after", "5"], {})
    assert given.heartbeats.host_down_after_s == 5.0
    defaults = ControllerSettings.load([], {})
    assert (defaults.heartbeats.host_down_after_s, defaults.metrics.stale_after_s) == (3.0, 3.0)


def test_by_default_a_fleet_of_10000_beats_every_10_s_and_is_down_after_30() -> None:
    policy = ControllerSettings.load([], {}).heartbeats.policy()
    assert scaled_interval(policy, 1000, 1.0) == 1.0
    assert scaled_interval(policy, 10_000, 1.0) == 10.0 and policy.down_after(10.0) == 30.0


def test_the_placement_policy_follows_the_settings() -> None:
    s = ControllerSettings.load(["--placement-strategy", "pack", "--load-target", "0.8"], {})
    policy = s.placement.policy()
    assert (policy.strategy.value, policy.load_target, policy.host_subset_size) == ("pack", 0.8, 1)


def test_a_child_gets_the_controllers_settings_as_they_are() -> None:
    s = ControllerSettings.load(
        ["--scheduler-workers", "3", "--placement-strategy", "pack"], {"OVERCAST_BUS_PREFIX": "p1"}
    )
    handed = s.child_environment()
    # The child's own environment (inherited from the controller's) does not change them.
    child = ControllerSettings.from_parent(
        {**handed, "OVERCAST_BUS_PREFIX": "other", "OVERCAST_SCHEDULER_WORKERS": "9"}
    )
    assert child == s
    assert (child.scheduler.workers, child.placement.strategy.value, child.bus.prefix) == (3, "pack", "p1")


def test_a_child_checks_what_it_is_handed(capsys) -> None:  # type: ignore[no-untyped-def]
    bad = json.loads(ControllerSettings.load([], {}).child_environment()[CHILD_VARIABLE])
    bad["scheduler"]["workers"] = 0
    with pytest.raises(SystemExit) as exc:
        ControllerSettings.from_parent({CHILD_VARIABLE: json.dumps(bad)})
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "overcast controller: --scheduler-workers / OVERCAST_SCHEDULER_WORKERS: must be at least 1 (got 0)\n"
    )


def test_a_child_process_started_without_settings_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k != CHILD_VARIABLE}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "controller.processes.relay_process"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"overcast controller: {CHILD_VARIABLE} is not set: this process is started by its parent"
    ]
