"""`overcast`: the command line over the Overcast public API.

Global options come before the command: `overcast -o json --project demo server list`.
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import typer

from ..channel import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT
from ..names import DEFAULT_PROJECT
from . import catalog, hosts, server_groups, servers
from .context import EXIT_ERROR, OutputFormat, State, session, state_of

# Rich help and error panels on a terminal; plain click text anywhere else (CI, pipes).
_MARKUP: Literal["rich"] | None = "rich" if sys.stderr.isatty() else None

app = typer.Typer(
    name="overcast",
    help="Overcast: servers, hosts, flavors and images on an Overcast controller.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=_MARKUP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(servers.app, name="server")
app.add_typer(server_groups.app, name="server-group")
app.add_typer(hosts.app, name="host")
app.add_typer(catalog.flavors, name="flavor")
app.add_typer(catalog.images, name="image")


@app.callback()
def main(
    ctx: typer.Context,
    endpoint: Annotated[
        str,
        typer.Option("--endpoint", envvar="OVERCAST_ENDPOINT", help="Controller address, HOST:PORT."),
    ] = DEFAULT_ENDPOINT,
    project: Annotated[
        str, typer.Option("--project", "-p", envvar="OVERCAST_PROJECT", help="Project id.")
    ] = DEFAULT_PROJECT,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="table or json.")
    ] = OutputFormat.table,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, help="Deadline of each API call, in seconds."),
    ] = DEFAULT_TIMEOUT,
) -> None:
    ctx.obj = State(endpoint=endpoint, project=project, output=output, timeout=timeout)


@app.command("health")
def health(ctx: typer.Context) -> None:
    """Ask the controller whether it is serving (grpc.health.v1); exit 1 when it is not."""
    state = state_of(ctx)
    with session(ctx) as client:
        status = client.health()
    print(f'{{"status": "{status}"}}' if state.json else status)
    if status != "SERVING":
        raise typer.Exit(EXIT_ERROR)


if __name__ == "__main__":
    app()
