"""The global options every command also takes after its name (`overcast server list -o json`),
as kubectl's global flags stand anywhere.

Typer has no inherited options, so each command's function is wrapped once: the wrapper's
signature is the command's own plus `-o/--output`, `-q/--quiet` and `-p/--project`; what they
say replaces the global value in the root `State` before the command runs. Given before the
command they keep working as before (the root callback reads them).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from .context import OutputFormat, State

OUTPUT_HELP = "table, json, yaml or name (one resource name per line)."

_EXTRA: dict[str, tuple[Any, Any]] = {
    "_output": (Annotated[OutputFormat | None, typer.Option("--output", "-o", help=OUTPUT_HELP)], None),
    "_quiet": (Annotated[bool, typer.Option("--quiet", "-q", help="Names only (as -o name).")], False),
    "_project": (Annotated[str | None, typer.Option("--project", "-p", help="Project id.")], None),
    "_ctx": (typer.Context, inspect.Parameter.empty),
}


def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` as a command that also takes the global options after its name."""
    hints = typing.get_type_hints(fn, include_extras=True)
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(fn).parameters.values()
    ]
    own_names = {p.name for p in own}
    ctx_name = next((p.name for p in own if hints.get(p.name) is typer.Context), None)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        for name, (annotation, default) in _EXTRA.items()
        if not (name == "_ctx" and ctx_name)
    ]

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        output, quiet, project = kwargs.pop("_output"), kwargs.pop("_quiet"), kwargs.pop("_project")
        ctx: typer.Context = kwargs.pop("_ctx") if ctx_name is None else kwargs[ctx_name]
        root = ctx.find_root()
        if isinstance(root.obj, State):
            changes: dict[str, Any] = {}
            if output is not None:
                changes["output"] = output
            if quiet:
                changes["output"] = OutputFormat.name
            if project:
                changes["project"] = project
            root.obj = dataclasses.replace(root.obj, **changes)
        return fn(*args, **{k: v for k, v in kwargs.items() if k in own_names})

    parameters = own + extra
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    del command.__wrapped__  # typer must read the signature above, not fn's
    return command


def with_command_options(app: typer.Typer) -> None:
    """Wrap every command registered on `app` (call once, before the CLI runs)."""
    for info in app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "_with_command_options", False):
            info.callback = wrap(info.callback)
            info.callback._with_command_options = True  # type: ignore[attr-defined]
