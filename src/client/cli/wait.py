"""`--wait`: follow a server through WatchServers, one line per state change.

Lines go to stdout, or to stderr under `-o json` so that stdout holds only the JSON.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TextIO

import typer

from overcast.v1 import common_pb2, server_pb2

from ..names import short_id
from ..sync import Client
from .context import EXIT_ERROR, State, error
from .output import enum_label, print_data, print_details, short, text

WAIT_TIMEOUT_HELP = "Give up waiting after this many seconds."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ProgressLines:
    """`on_change` callback printing a line whenever the visible state of the server moves."""

    def __init__(self, name: str, out: TextIO) -> None:
        self.name = short_id(name)
        self.out = out
        self._last: tuple[object, ...] | None = None

    def __call__(self, server: server_pb2.Server | None) -> None:
        if server is None:
            line = f"{_now()}  {self.name}  deleted"
        else:
            key = (server.vm_state, server.task_state, server.power_state, server.host)
            if key == self._last:
                return
            self._last = key
            line = (
                f"{_now()}  {self.name}"
                f"  vm_state={enum_label(common_pb2.VmState, server.vm_state)}"
                f" task_state={enum_label(common_pb2.TaskState, server.task_state)}"
                f" power_state={enum_label(common_pb2.PowerState, server.power_state)}"
                f"  host={short(server.host)}"
            )
        print(line, file=self.out, flush=True)


def wait_and_show(
    client: Client,
    state: State,
    server: server_pb2.Server,
    *,
    expect: int | None,
    timeout: float,
) -> None:
    """Wait for `server` to reach `expect` (a VmState; None = gone) and show how it ended.

    Exits 0 on the expected end, 1 on ERROR (printing the fault) or any other end.
    """
    until: Collection[int] = () if expect is None else (expect,)
    progress = ProgressLines(server.name, sys.stderr if state.structured else sys.stdout)
    progress(server)  # the state the call itself returned comes first (e.g. SCHEDULING)
    final = client.wait_for_server(
        server.name, project=state.project, until=until, on_change=progress, timeout=timeout
    )
    name = short_id(server.name)
    if final is None:
        if expect is None:
            if state.structured:
                print("{}")
            return
        error(f"server {name} was deleted while waiting for it")
        raise typer.Exit(EXIT_ERROR)
    show_server(state, final)
    if final.vm_state == common_pb2.VM_STATE_ERROR:
        error(f"server {name} is in ERROR: {text(final.fault)}")
        raise typer.Exit(EXIT_ERROR)
    if expect is None or final.vm_state != expect:
        label = enum_label(common_pb2.VmState, final.vm_state)
        error(f"server {name} ended in {label}")
        raise typer.Exit(EXIT_ERROR)


def show_server(state: State, server: server_pb2.Server) -> None:
    if state.structured:
        print_data(state, server)
    else:
        print_details(server)
