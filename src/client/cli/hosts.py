"""`overcast host ...`."""

from __future__ import annotations

from typing import Annotated

import typer

from overcast.v1 import host_pb2

from .context import State, session, state_of
from .output import HOST_COLUMNS, host_row, print_details, print_json, print_table

app = typer.Typer(
    help="Inspect hypervisor hosts and take them in or out of scheduling.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="Host id (e.g. host-1) or hosts/NAME.")]


def _show(state: State, host: host_pb2.Host) -> None:
    if state.json:
        print_json(host)
    else:
        print_details(host)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List hosts with their capacity and usage."""
    state = state_of(ctx)
    with session(ctx) as client:
        hosts = list(client.list_hosts())
    if state.json:
        print_json(hosts)
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
