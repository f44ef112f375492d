"""`overcast host ...`."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, TextIO

import typer
from google.protobuf import json_format

from overcast.v1 import common_pb2, host_pb2, server_pb2

from ..errors import NotFound
from ..names import host_name, short_id
from ..sync import Client
from .context import EXIT_ERROR, State, error, session, state_of
from .output import (
    EMPTY,
    HOST_COLUMNS,
    enum_label,
    host_row,
    load_markers,
    mib,
    percent,
    print_data,
    print_details,
    print_table,
    short,
    timestamp_text,
)
from .wait import WAIT_TIMEOUT_HELP, ProgressLines

app = typer.Typer(
    help="Inspect hypervisor hosts and take them in or out of scheduling.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="Host id (e.g. host-1) or hosts/NAME.")]


def _show(state: State, host: host_pb2.Host) -> None:
    if state.structured:
        print_data(state, host)
    else:
        print_details(host)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List hosts with their capacity and usage."""
    state = state_of(ctx)
    with session(ctx) as client:
        hosts = list(client.list_hosts())
    if state.structured:
        print_data(state, hosts)
    else:
        print_table(HOST_COLUMNS, [host_row(h) for h in hosts])


@app.command("show")
def show(ctx: typer.Context, name: NameArg) -> None:
    """Show one host."""
    state = state_of(ctx)
    with session(ctx) as client:
        _show(state, client.get_host(name))


@app.command("enable")
def enable(ctx: typer.Context, name: NameArg) -> None:
    """Let the scheduler place servers on a host again."""
    state = state_of(ctx)
    with session(ctx) as client:
        _show(state, client.enable_host(name))


@app.command("disable")
def disable(
    ctx: typer.Context,
    name: NameArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in host show).")] = "",
) -> None:
    """Keep the scheduler from placing new servers on a host."""
    state = state_of(ctx)
    with session(ctx) as client:
        _show(state, client.disable_host(name, reason))


@app.command("evacuate")
def evacuate(
    ctx: typer.Context,
    name: NameArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the evacuated servers until each is ACTIVE or in ERROR.")
    ] = False,
    wait_timeout: Annotated[float, typer.Option("--wait-timeout", help=WAIT_TIMEOUT_HELP)] = 600.0,
) -> None:
    """Rebuild the servers of a DOWN host on other hosts (evacuation). Its old copies are
    removed when the host comes back. With --wait, one line per server state change."""
    state = state_of(ctx)
    with session(ctx) as client:
        done = client.evacuate_host(name)
        out = sys.stderr if state.structured else sys.stdout
        if state.structured:
            print_data(state, done)
        else:
            for server in done.servers:
                print(f"evacuating {short_id(server)}", flush=True)
            for skipped in done.skipped:
                print(f"left {short_id(skipped.server)}: {skipped.reason}", flush=True)
            if not done.servers and not done.skipped:
                print(f"no servers on {short(host_name(name))}", flush=True)
        if wait and done.servers:
            failed = follow_servers(client, list(done.servers), out, timeout=wait_timeout)
            if failed:
                error(
                    f"{len(failed)} of {len(done.servers)} servers did not become ACTIVE: {', '.join(failed)}"
                )
                raise typer.Exit(EXIT_ERROR)


def follow_servers(client: Client, names: list[str], out: TextIO, *, timeout: float) -> list[str]:
    """Poll each server until it is ACTIVE or in ERROR (or gone), one line per change (they
    may be in several projects: one watch per project would not do). Returns those that did
    not become ACTIVE, each with why."""
    lines = {n: ProgressLines(n, out) for n in names}
    pending = set(names)
    failed: list[str] = []
    deadline = time.monotonic() + timeout
    while pending:
        for n in sorted(pending):
            try:
                server: server_pb2.Server | None = client.get_server(n)
            except NotFound:
                server = None
            lines[n](server)
            if server is None:
                failed.append(f"{short_id(n)} (deleted)")
                pending.discard(n)
            elif server.vm_state == common_pb2.VM_STATE_ERROR:
                failed.append(f"{short_id(n)} ({server.fault})")
                pending.discard(n)
            elif server.vm_state == common_pb2.VM_STATE_ACTIVE and not server.task_state:
                pending.discard(n)
        if pending:
            if time.monotonic() > deadline:
                failed.extend(
                    f"{short_id(n)} (still {enum_label(common_pb2.VmState, client.get_server(n).vm_state)})"
                    for n in sorted(pending)
                )
                break
            time.sleep(0.5)
    return failed


def metrics_lines(update: host_pb2.HostMetricsUpdate) -> list[str]:
    """One line for the host, then one per instance (when the update has them)."""
    load = update.load
    lines = [
        f"{timestamp_text(load.sampled_at)}  {short(update.host)}"
        f"  cpu {percent(load.cpu_util)}% ewma {percent(load.cpu_util_ewma)}%"
        f"  mem used {mib(load.memory_used_mib)} free {mib(load.memory_free_mib)}"
        f"  load {load.load1:.2f}  {load_markers(load)}"
    ]
    for i in update.instances:
        marks = "sim" if i.load.simulated else "live"
        lines.append(
            f"    {short(i.server) if i.server else i.uid or EMPTY}"
            f"  cpu {percent(i.load.cpu_util)}% ewma {percent(i.load.cpu_util_ewma)}%"
            f"  rss {mib(i.load.memory_rss_mib)}  {marks}"
        )
    return lines


@app.command("watch-metrics")
def watch_metrics(
    ctx: typer.Context,
    hosts: Annotated[list[str] | None, typer.Argument(help="Host ids; none = every host.")] = None,
    instances: Annotated[bool, typer.Option("--instances", help="Also one line per instance.")] = False,
    count: Annotated[
        int, typer.Option("--count", min=0, help="Stop after N samples (0 = until Ctrl-C).")
    ] = 0,
) -> None:
    """Print every metrics sample the controller absorbs, as it arrives (-o json: one JSON
    object per line)."""
    state = state_of(ctx)
    with session(ctx) as client:
        stream = client.watch_host_metrics(hosts or (), include_instances=instances)
        try:
            for seen, update in enumerate(stream, start=1):
                if state.structured:
                    as_dict = json_format.MessageToDict(update, always_print_fields_with_no_presence=True)
                    print(json.dumps(as_dict), flush=True)
                else:
                    print("\n".join(metrics_lines(update)), flush=True)
                if count and seen >= count:
                    break
        finally:
            stream.close()
