"""Tables, JSON, YAML and names for the CLI.

On a terminal tables are drawn by rich; anywhere else (pipes, CI) they are plain text with
space-aligned columns and no colour, so `awk`/`cut` keep working. `-o json` prints canonical
proto3 JSON (a list as a JSON array) and nothing else on stdout; `-o yaml` the same data as
YAML; `-o name` (or `-q`) one resource name per line, for scripts (`xargs -n1 overcast server
delete`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

import yaml
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from rich import box
from rich.console import Console
from rich.table import Table

from overcast.v1 import common_pb2, flavor_pb2, host_pb2, image_pb2, server_group_pb2, server_pb2

from .. import enum_names
from ..names import short_id
from .context import OutputFormat, State

EMPTY = "-"
Row = Sequence[str]


def enum_label(enum_type: Any, value: int) -> str:
    """ "ACTIVE" for VM_STATE_ACTIVE and IMAGE_STATUS_ACTIVE, "-" for *_UNSPECIFIED (an idle
    server's task state among them)."""
    return descriptor_label(enum_type.DESCRIPTOR, value)


def descriptor_label(descriptor: EnumDescriptor, value: int) -> str:
    value_descriptor = descriptor.values_by_number.get(value)
    if value_descriptor is None:
        return str(value)  # a value newer than these stubs
    name: str = value_descriptor.name
    if name.endswith("_UNSPECIFIED"):
        return EMPTY
    return enum_names.short(descriptor, name)


def timestamp_text(ts: timestamp_pb2.Timestamp) -> str:
    """RFC 3339 in UTC to the second ("2025-01-02T03:04:05Z"), "-" when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return EMPTY
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text(value: object) -> str:
    return EMPTY if value in ("", None) else str(value)


def short(name: str) -> str:
    return short_id(name) if name else EMPTY


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: int) -> str:
    """1536 → "1.5KiB", 2 GiB → "2GiB": IEC units, one decimal unless whole, no space (a
    table cell stays one word for awk and cut)."""
    value, unit = float(n), 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    number = f"{value:.1f}".removesuffix(".0")
    return f"{number}{_UNITS[unit]}"


def mib(n: int) -> str:
    return human_bytes(n * 1024**2)


def gib(n: int) -> str:
    return human_bytes(n * 1024**3)


# --- rows ------------------------------------------------------------------------------------

SERVER_COLUMNS = ("NAME", "STATE", "TASK", "POWER", "HOST", "FLAVOR", "IMAGE", "FAULT")


def server_row(s: server_pb2.Server) -> Row:
    return (
        short(s.name),
        enum_label(common_pb2.VmState, s.vm_state),
        enum_label(common_pb2.TaskState, s.task_state),
        enum_label(common_pb2.PowerState, s.power_state),
        short(s.host),
        short(s.flavor),
        short(s.image),
        text(s.fault),
    )


HOST_COLUMNS = (
    "NAME",
    "STATE",
    "ENABLED",
    "VCPUS",
    "MEMORY",
    "SERVERS",
    "CPU%",
    "CPU% EWMA",
    "MEM USED",
    "METRICS",
    "AZ",
    "HYPERVISOR",
    "LAST HEARTBEAT",
)


def percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}"


def load_markers(load: host_pb2.HostLoad | None) -> str:
    """Metrics markers: "live" (measured, recent), "sim" (simulated), "stale" (load unknown)."""
    if load is None:
        return EMPTY
    marks = [m for m, on in (("sim", load.simulated), ("stale", load.stale)) if on]
    return ",".join(marks) or "live"


def host_row(h: host_pb2.Host) -> Row:
    load = h.load if h.HasField("load") else None
    return (
        short(h.name),
        enum_label(common_pb2.HostState, h.state),
        "yes" if h.enabled else "no",
        f"{h.vcpus_used}/{h.vcpus}",
        f"{mib(h.memory_mib_used)}/{mib(h.memory_mib)}",
        str(h.servers),
        percent(load.cpu_util) if load else EMPTY,
        percent(load.cpu_util_ewma) if load else EMPTY,
        mib(load.memory_used_mib) if load else EMPTY,
        load_markers(load),
        text(h.availability_zone),
        text(h.hypervisor_type),
        timestamp_text(h.last_heartbeat_time),
    )


SERVER_GROUP_COLUMNS = ("NAME", "POLICY", "MEMBERS", "CREATED")


def server_group_row(g: server_group_pb2.ServerGroup) -> Row:
    return (
        short(g.name),
        enum_label(server_group_pb2.ServerGroupPolicy, g.policy),
        ", ".join(short(m) for m in g.members) or EMPTY,
        timestamp_text(g.create_time),
    )


def server_group_details(g: server_group_pb2.ServerGroup) -> list[tuple[str, str]]:
    return [
        ("name", g.name),
        ("policy", enum_label(server_group_pb2.ServerGroupPolicy, g.policy)),
        ("members", ", ".join(short(m) for m in g.members) or EMPTY),
        ("create_time", timestamp_text(g.create_time)),
        ("etag", text(g.etag)),
    ]


FLAVOR_COLUMNS = ("NAME", "VCPUS", "MEMORY", "DISK", "DESCRIPTION")


def flavor_row(f: flavor_pb2.Flavor) -> Row:
    return (short(f.name), str(f.vcpus), mib(f.memory_mib), gib(f.disk_gib), text(f.description))


def by_size(flavors: Iterable[flavor_pb2.Flavor]) -> list[flavor_pb2.Flavor]:
    """Smallest first (vCPUs, then memory, then disk), as people read a price list."""
    return sorted(flavors, key=lambda f: (f.vcpus, f.memory_mib, f.disk_gib, f.name))


IMAGE_COLUMNS = ("NAME", "FORMAT", "STATUS", "MIN DISK", "MIN MEMORY", "SIZE", "CREATED")


def image_row(i: image_pb2.Image) -> Row:
    return (
        short(i.name),
        text(i.disk_format),
        enum_label(image_pb2.ImageStatus, i.status),
        gib(i.min_disk_gib),
        mib(i.min_memory_mib),
        human_bytes(i.size_bytes) if i.size_bytes else EMPTY,
        timestamp_text(i.create_time),
    )


def detail_rows(message: Message) -> list[tuple[str, str]]:
    """One (field, value) row per field of `message`, in proto order, for `show` commands."""
    rows: list[tuple[str, str]] = []
    for field in message.DESCRIPTOR.fields:
        rows.append((field.name, _field_text(message, field)))
    return rows


def host_load_text(load: host_pb2.HostLoad) -> str:
    parts = [
        f"cpu {percent(load.cpu_util)}% (ewma {percent(load.cpu_util_ewma)}%)",
        f"mem used {mib(load.memory_used_mib)}, free {mib(load.memory_free_mib)}",
        f"load {load.load1:.2f} {load.load5:.2f} {load.load15:.2f}",
        f"sampled {timestamp_text(load.sampled_at)}",
    ]
    return ", ".join(parts + [m for m, on in (("simulated", load.simulated), ("stale", load.stale)) if on])


def instance_load_text(load: server_pb2.InstanceLoad) -> str:
    parts = [
        f"cpu {percent(load.cpu_util)}% (ewma {percent(load.cpu_util_ewma)}%)",
        f"rss {mib(load.memory_rss_mib)}",
        f"disk read/write {load.disk_read_bytes}/{load.disk_write_bytes} B",
        f"net rx/tx {load.net_rx_bytes}/{load.net_tx_bytes} B",
        f"sampled {timestamp_text(load.sampled_at)}",
    ]
    return ", ".join(parts + [m for m, on in (("simulated", load.simulated), ("stale", load.stale)) if on])


_SUMMARIES: dict[str, Any] = {
    "overcast.v1.HostLoad": host_load_text,
    "overcast.v1.InstanceLoad": instance_load_text,
}


def _field_text(message: Message, field: Any) -> str:  # a (upb or python) FieldDescriptor
    value = getattr(message, field.name)
    summary = _SUMMARIES.get(field.message_type.full_name) if field.message_type is not None else None
    if summary is not None:
        return str(summary(value)) if message.HasField(field.name) else EMPTY
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or EMPTY
    if field.message_type is not None and field.message_type.full_name == ("google.protobuf.Timestamp"):
        return timestamp_text(value)
    if field.enum_type is not None:
        return descriptor_label(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "yes" if value else "no"
    return text(value)


# --- rendering -------------------------------------------------------------------------------


def stdout_console() -> Console:
    # Created per use so that it follows sys.stdout (replaced under test runners).
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def plain_table(columns: Sequence[str], rows: Iterable[Row]) -> str:
    """Space-aligned columns, two spaces apart, no trailing blanks; one line per row."""
    all_rows = [tuple(columns), *(tuple(r) for r in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in all_rows]
    return "\n".join(lines)


def print_table(columns: Sequence[str], rows: Iterable[Row], *, header: bool = True) -> None:
    console = stdout_console()
    if not console.is_terminal:
        rendered = plain_table(columns, rows)
        if not header:
            rendered = rendered.split("\n", 1)[1] if "\n" in rendered else ""
        if rendered:
            print(rendered)
        return
    table = Table(box=box.SIMPLE_HEAD, show_header=header, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_details(message: Message) -> None:
    print_table(("FIELD", "VALUE"), detail_rows(message), header=False)


def to_json(value: Message | Iterable[Message]) -> str:
    """Canonical proto3 JSON of one message, or a JSON array of several."""
    if isinstance(value, Message):
        return json.dumps(_as_dict(value), indent=2)
    return json.dumps([_as_dict(m) for m in value], indent=2)


def _as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def to_yaml(value: Message | Iterable[Message]) -> str:
    data: Any = _as_dict(value) if isinstance(value, Message) else [_as_dict(m) for m in value]
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True)).rstrip("\n")


def names_of(value: Message | Iterable[Message]) -> list[str]:
    """The `name` field of one message or of each (messages without one are skipped)."""
    messages = [value] if isinstance(value, Message) else list(value)
    return [m.name for m in messages if getattr(m, "name", "")]  # type: ignore[attr-defined]


def print_data(state: State, value: Message | Iterable[Message]) -> None:
    """One message or a list of them, as `-o json`, `-o yaml` or `-o name` asks."""
    if state.output is OutputFormat.yaml:
        print(to_yaml(value))
    elif state.output is OutputFormat.name:
        for name in names_of(value):
            print(name)
    else:
        print(to_json(value))


def print_deleted(state: State, kind: str, name: str) -> None:
    """What a delete prints: the name under `-o name`, an empty object as JSON or YAML."""
    if state.output is OutputFormat.name:
        print(name)
    elif state.structured:
        print("{}")
    else:
        print(f"deleted {kind} {short_id(name)}")
