"""`overcast`: the command line over the Overcast public API.

Global options may stand before the command or after it, as kubectl's do:
`overcast -o json server list` and `overcast server list -o json` are the same. The output,
quiet and project options are added to every command (`command_options`); endpoint, context
and timeout are given before the command.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Annotated, Literal

import typer

from .. import config
from ..channel import DEFAULT_TIMEOUT
from . import catalog, contexts, hosts, scaling_groups, server_groups, servers
from .command_options import OUTPUT_HELP, with_command_options
from .context import EXIT_ERROR, EXIT_USAGE, OutputFormat, State, error, session, state_of

# Rich help and error panels on a terminal; plain click text anywhere else (CI, pipes).
_MARKUP: Literal["rich"] | None = "rich" if sys.stderr.isatty() else None


def version() -> str:
    try:
        return metadata.version("overcast")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


app = typer.Typer(
    name="overcast",
    help="Overcast: servers, scaling groups, hosts, flavors and images on an Overcast controller.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=_MARKUP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(servers.app, name="server")
app.add_typer(server_groups.app, name="server-group")
app.add_typer(scaling_groups.app, name="group")
app.add_typer(hosts.app, name="host")
app.add_typer(catalog.flavors, name="flavor")
app.add_typer(catalog.images, name="image")
app.add_typer(contexts.app, name="context")
_SUBCOMMANDS = (
    servers.app,
    server_groups.app,
    scaling_groups.app,
    hosts.app,
    catalog.flavors,
    catalog.images,
    contexts.app,
)
for _sub in _SUBCOMMANDS:
    with_command_options(_sub)


def _print_version(value: bool) -> None:
    if value:
        print(f"overcast {version()}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            envvar=config.ENDPOINT_ENV,
            help="Controller address, HOST:PORT (default: the context's, else 127.0.0.1:50051).",
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project", "-p", envvar=config.PROJECT_ENV, help="Project id (default: the context's)."
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            envvar=config.CONTEXT_ENV,
            help="A named context of the client configuration (see `overcast context`).",
        ),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help=OUTPUT_HELP)] = OutputFormat.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Names only (as -o name).")] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, help="Deadline of each API call, in seconds."),
    ] = DEFAULT_TIMEOUT,
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    try:
        chosen = config.resolve(endpoint, project, context)
    except config.ConfigError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    ctx.obj = State(
        endpoint=chosen.endpoint,
        project=chosen.project,
        output=OutputFormat.name if quiet else output,
        timeout=timeout,
    )


@app.command("health")
def health(ctx: typer.Context) -> None:
    """Ask the controller whether it is serving (grpc.health.v1); exit 1 when it is not."""
    state = state_of(ctx)
    with session(ctx) as client:
        status = client.health()
    if state.output is OutputFormat.yaml:
        print(f"status: {status}")
    elif state.structured:
        print(f'{{"status": "{status}"}}')
    else:
        print(status)
    if status != "SERVING":
        raise typer.Exit(EXIT_ERROR)


def run() -> None:
    """The `overcast` console script."""
    app()


if __name__ == "__main__":
    run()
