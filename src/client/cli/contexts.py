"""`overcast context ...`: named controller/project pairs in the client configuration file
(`client.config`), chosen with `--context` or OVERCAST_CONTEXT, as kubectl's contexts."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import config
from .context import EXIT_USAGE, OutputFormat, error, state_of
from .output import print_table

app = typer.Typer(help="Named contexts: which controller and project to use.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Context name, e.g. lab.")]


def _load() -> config.ClientConfig:
    try:
        return config.load()
    except config.ConfigError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_USAGE) from None


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """The contexts of the configuration file; * marks the current one."""
    state = state_of(ctx)
    cfg = _load()
    chosen = sorted(cfg.contexts.values(), key=lambda c: c.name)
    if state.output is OutputFormat.name:
        for c in chosen:
            print(c.name)
    elif state.structured:
        import json

        print(json.dumps([{"name": c.name, "endpoint": c.endpoint, "project": c.project} for c in chosen]))
    else:
        rows = [("*" if c.name == cfg.current else "", c.name, c.endpoint, c.project) for c in chosen]
        print_table(("CURRENT", "NAME", "ENDPOINT", "PROJECT"), rows)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """What this command line would use: the context (if any), the endpoint and the project."""
    state = state_of(ctx)
    cfg_path = config.config_path()
    current = _load().current
    print(f"file      {cfg_path}{'' if cfg_path.exists() else ' (none yet)'}")
    print(f"context   {current or '-'}")
    print(f"endpoint  {state.endpoint}")
    print(f"project   {state.project}")


@app.command("set")
def set_(
    name: NameArg,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Controller address, HOST:PORT.")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project id.")] = None,
    use: Annotated[bool, typer.Option("--use", help="Also make it the current context.")] = False,
) -> None:
    """Add a context or change one (only the options given)."""
    cfg = _load()
    old = cfg.contexts.get(name, config.Context(name))
    cfg.contexts[name] = config.Context(name, endpoint or old.endpoint, project or old.project)
    if use or not cfg.current:
        cfg.current = name
    cfg.save()
    print(f"context {name}: {cfg.contexts[name].endpoint}, project {cfg.contexts[name].project}")


@app.command("use")
def use(name: NameArg) -> None:
    """Make NAME the current context."""
    cfg = _load()
    try:
        cfg.context(name)
    except config.ConfigError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    cfg.current = name
    cfg.save()
    print(f"using context {name}")


@app.command("delete")
def delete(name: NameArg) -> None:
    """Remove a context."""
    cfg = _load()
    if cfg.contexts.pop(name, None) is None:
        error(f"no context {name!r} in {cfg.path}")
        raise typer.Exit(EXIT_USAGE)
    if cfg.current == name:
        cfg.current = ""
    cfg.save()
    print(f"deleted context {name}")
