"""Instance and host rows decode to the same objects as the dataclasses' constructors make."""

from __future__ import annotations

import dataclasses
import pickle
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from controller.domain.model import (
    BootSpec,
    Host,
    HostFailurePolicy,
    HostState,
    ImageRef,
    Instance,
    PowerState,
    TaskState,
    VmState,
)
from controller.storage import rows, scheduling

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _instance_row(**kw: Any) -> dict[str, Any]:
    r: dict[str, Any] = dict(
        uid=uuid.uuid4(), project="p", server_id="s1", flavor_id="m1.small", image_id="cirros",
        vcpus=1, memory_mib=2048, disk_gib=20, vm_state="BUILDING", task_state="SCHEDULING",
        power_state="POWER_STATE_UNSPECIFIED", host_id=None, allocated=False, task_command=None,
        fault="", metadata={}, request_id=None, version=1, created_at=NOW, updated_at=NOW,
        availability_zone="", server_group="", boot={}, required_arch="", required_hypervisor_type="",
        scaling_group="", generation=1, host_failure_policy="NONE", host_down_at=None,
        host_down_power=None,
    )  # fmt: skip
    r.update(kw)
    return r


@pytest.mark.parametrize(
    "changes",
    [
        {},
        dict(
            vm_state="ACTIVE", task_state=None, power_state="RUNNING", host_id="h1", allocated=True,
            task_command=uuid.uuid4(), fault="f", metadata={"a": "b"}, request_id="r", version=7,
            availability_zone="az1", server_group="g", required_arch="x86_64",
            required_hypervisor_type="qemu", scaling_group="web", generation=3,
            host_failure_policy="EVACUATE", host_down_at=NOW, host_down_power="RUNNING",
            boot={"kernel_args": "console=ttyS0", "kernel": {"name": "images/k", "disk_format": "raw",
                  "size_bytes": 10, "checksum_sha256": "c"}},
        ),
    ],
)  # fmt: skip
def test_instance_row(changes: dict[str, Any]) -> None:
    r = _instance_row(**changes)
    boot = r["boot"]
    want = Instance(
        **{
            **r,
            "vm_state": VmState(r["vm_state"]),
            "task_state": TaskState(r["task_state"]) if r["task_state"] else None,
            "power_state": PowerState(r["power_state"]),
            "host_failure_policy": HostFailurePolicy(r["host_failure_policy"]),
            "host_down_power": PowerState(r["host_down_power"]) if r["host_down_power"] else None,
            "boot": BootSpec(
                kernel=ImageRef(**boot["kernel"]) if "kernel" in boot else None,
                kernel_args=boot.get("kernel_args", ""),
            ),
        }
    )
    got = rows.instance(r)  # type: ignore[arg-type]  # a dict reads as a Record does
    assert got == want
    assert repr(got) == repr(want)
    assert hash(got.boot) == hash(want.boot)
    assert pickle.loads(pickle.dumps(got)) == want
    assert dataclasses.replace(got, version=9) == dataclasses.replace(want, version=9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.fault = "x"  # type: ignore[misc]
    got.metadata["new"] = "1"  # its own dict, not the row's
    assert "new" not in r["metadata"]


def test_unknown_enum_values_still_fail() -> None:
    with pytest.raises(ValueError):
        rows.instance(_instance_row(vm_state="BOGUS"))  # type: ignore[arg-type]


@pytest.mark.parametrize("state", ["UP", "DOWN"])
def test_host_row(state: str) -> None:
    r: dict[str, Any] = dict(
        id="h1", hostname="h1.example", arch="x86_64", hypervisor_type="qemu", hypervisor_uri="qemu:///system",
        availability_zone="az1", vcpus=32, memory_mib=131072, disk_gib=2000, cpu_allocation_ratio=4.0,
        ram_allocation_ratio=1.0, disk_allocation_ratio=1.0, vcpus_used=3, memory_mib_used=4096,
        disk_gib_used=40, servers=2, enabled=True, disabled_reason="", state=state, last_heartbeat=NOW,
        version=3, created_at=NOW, domain_type="kvm",
    )  # fmt: skip
    got = rows.host(r)  # type: ignore[arg-type]
    want = Host(**{**r, "state": HostState(state)})
    assert got == want
    assert repr(got) == repr(want)
    assert got.name == "hosts/h1"


def test_fleet_columns_come_in_id_order_whatever_order_the_arrays_arrive_in() -> None:
    # One row of arrays (FLEET); PostgreSQL keeps the sorted subquery's order in practice.
    def fleet_row(ids: list[str]) -> list[Any]:
        n = len(ids)
        head: list[Any] = [ids, ["az1"] * n, ["x86_64"] * n, ["qemu"] * n, [True] * n]
        return [*head, [int(i[1:]) for i in ids], *([1] * n for _ in range(8))]

    in_order = scheduling._columns(fleet_row(["h1", "h2", "h3"]))  # type: ignore[arg-type]
    shuffled = scheduling._columns(fleet_row(["h3", "h1", "h2"]))  # type: ignore[arg-type]
    assert shuffled.ids == in_order.ids == ["h1", "h2", "h3"]
    assert shuffled.vcpus == [1, 2, 3]  # every column follows its host
    assert scheduling._columns(None).ids == []  # no hosts
    assert scheduling._columns([None] * 14).ids == []  # type: ignore[arg-type]  # array_agg of no rows
