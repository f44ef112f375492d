"""The fleet simulation's own settings (OVERCAST_SIM_*): host shapes and zones as lists."""

from __future__ import annotations

import pytest

from devcluster.simulation.settings import FleetSettings, HostShape


def test_shapes_and_zones_from_flags_variables_and_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = FleetSettings.load(["--shape", "8:16:100", "--shape", "4:8:50:0.5", "--zones", "a,b"], {})
    assert s.fleet.shapes == (
        HostShape(vcpus=8, memory_gib=16, disk_gib=100),
        HostShape(vcpus=4, memory_gib=8, disk_gib=50, weight=0.5),
    )
    assert s.fleet.zones == ("a", "b")
    env = {"OVERCAST_SIM_SHAPE": "2:4:10,1:2:5", "OVERCAST_SIM_ZONES": "z1", "OVERCAST_SIM_HOSTS": "7"}
    s = FleetSettings.load([], env)
    assert ([sh.vcpus for sh in s.fleet.shapes], s.fleet.zones, s.fleet.hosts) == ([2, 1], ("z1",), 7)
    config = tmp_path / "fleet.toml"
    config.write_text('[fleet]\nshapes = ["16:32:200"]\nzones = ["x", "y"]\ninstance_metrics = false\n')
    s = FleetSettings.load(["--config", str(config)], {})
    assert (s.fleet.shapes[0].vcpus, s.fleet.zones, s.fleet.instance_metrics) == (16, ("x", "y"), False)
    assert FleetSettings.load(["--no-instance-metrics"], {}).fleet.instance_metrics is False
    assert FleetSettings.load([], {}).log.level == "warning"  # the per-host machinery is quiet


def test_a_bad_shape_is_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        FleetSettings.load(["--shape", "8:16"], {})
    assert capsys.readouterr().err == (
        "overcast fleet simulation: --shape / OVERCAST_SIM_SHAPE: must be VCPUS:MEMORY_GIB:DISK_GIB[:WEIGHT]"
        ' (got ["8:16"])\n'
    )
