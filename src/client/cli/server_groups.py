"""`overcast server-group ...`: servers placed together (affinity) or apart (anti-affinity)."""

from __future__ import annotations

from typing import Annotated

import typer

from overcast.v1 import server_group_pb2

from ..build import server_group_policy_names
from ..names import server_group_name
from .context import State, session, state_of
from .output import (
    SERVER_GROUP_COLUMNS,
    print_data,
    print_deleted,
    print_table,
    server_group_details,
    server_group_row,
)

app = typer.Typer(
    help="Server groups: place their members together (affinity) or apart (anti-affinity).",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Group id (e.g. web) or full resource name.")]
POLICY_HELP = (
    f"One of {', '.join(server_group_policy_names())} (or lower case with dashes, e.g. anti-affinity). "
    "Hard policies refuse a host that breaks them; soft ones only prefer."
)


def _show(state: State, group: server_group_pb2.ServerGroup) -> None:
    if state.structured:
        print_data(state, group)
    else:
        print_table(("FIELD", "VALUE"), server_group_details(group), header=False)


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    policy: Annotated[str, typer.Option("--policy", help=POLICY_HELP)],
    request_id: Annotated[str | None, typer.Option("--request-id", help="Idempotency key (AIP-155).")] = None,
) -> None:
    """Create a server group; then `server create --server-group NAME` adds members."""
    state = state_of(ctx)
    with session(ctx) as client:
        _show(state, client.create_server_group(name, policy, project=state.project, request_id=request_id))


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the project's server groups."""
    state = state_of(ctx)
    with session(ctx) as client:
        groups = list(client.list_server_groups(state.project))
    if state.structured:
        print_data(state, groups)
    else:
        print_table(SERVER_GROUP_COLUMNS, [server_group_row(g) for g in groups])


@app.command("show")
def show(ctx: typer.Context, name: NameArg) -> None:
    """Show one server group and its members."""
    state = state_of(ctx)
    with session(ctx) as client:
        _show(state, client.get_server_group(name, state.project))


@app.command("delete")
def delete(ctx: typer.Context, name: NameArg) -> None:
    """Delete an empty server group (delete its member servers first)."""
    state = state_of(ctx)
    with session(ctx) as client:
        client.delete_server_group(name, state.project)
    print_deleted(state, "server group", server_group_name(name, state.project))
