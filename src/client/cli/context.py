"""What every command shares: global options, the client session and error reporting.

Errors never end in a traceback: `error: <message>` (plus one line per field violation) goes
to stderr and the exit code is 1, or 2 for invalid arguments (as for usage errors).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import typer

from ..errors import DeadlineExceeded, InvalidArgument, OvercastError, Unavailable
from ..sync import Client

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    name = "name"


@dataclass(frozen=True)
class State:
    """The global options, kept on `ctx.obj`."""

    endpoint: str
    project: str
    output: OutputFormat
    timeout: float

    @property
    def structured(self) -> bool:
        """Output for programs (json, yaml, names): progress and notes go to stderr."""
        return self.output is not OutputFormat.table


def state_of(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    if not isinstance(state, State):  # only when a command runs without the root callback
        raise RuntimeError("the overcast callback did not run")
    return state


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def report(err: OvercastError, state: State) -> int:
    """Print `err` for a person; return the exit code."""
    if isinstance(err, Unavailable) and err.retry_delay is not None:
        # The controller answered: what it needs (its database, its broker) is away.
        error(f"the controller at {state.endpoint} is unavailable: {err.message}")
    elif isinstance(err, Unavailable):
        error(
            f"cannot reach the controller at {state.endpoint}: {err.message} "
            "(is it running? set --endpoint or OVERCAST_ENDPOINT)"
        )
    elif isinstance(err, DeadlineExceeded) and err.message == "Deadline Exceeded":
        error(
            f"the controller at {state.endpoint} did not answer within {state.timeout:g}s (raise --timeout?)"
        )
    else:
        _print_violations(err)
        return EXIT_USAGE if isinstance(err, InvalidArgument) else EXIT_ERROR
    for field, description in err.field_violations:
        print(f"  - {field}: {description}", file=sys.stderr)
    return EXIT_USAGE if isinstance(err, InvalidArgument) else EXIT_ERROR


def _print_violations(err: OvercastError) -> None:
    """Each thing to fix once: the controller's message often is its violations joined
    ("server.flavor: flavor m1.nope does not exist"), so those are not listed again."""
    lines = [f"{field}: {description}" for field, description in err.field_violations]
    if err.message == "; ".join(lines):
        if len(lines) == 1:
            error(lines[0])
            return
        error("invalid request")
    else:
        error(err.message)
    for line in lines:
        if line not in err.message or len(lines) > 1:
            print(f"  - {line}", file=sys.stderr)


def _is_cli_control(exc: BaseException) -> bool:
    # typer.Exit / Abort and click's usage errors (which carry `exit_code` and `show`) are how
    # the CLI itself ends a command: let them through.
    return isinstance(exc, typer.Exit | typer.Abort) or (hasattr(exc, "exit_code") and hasattr(exc, "show"))


@contextmanager
def session(ctx: typer.Context) -> Iterator[Client]:
    """A connected `Client`; OvercastErrors and Ctrl-C become messages and exit codes."""
    state = state_of(ctx)
    try:
        with Client(state.endpoint, project=state.project, timeout=state.timeout) as client:
            yield client
    except OvercastError as err:
        raise typer.Exit(report(err, state)) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        if _is_cli_control(exc):
            raise
        error(f"unexpected {type(exc).__name__}: {exc}")
        if os.environ.get("OVERCAST_DEBUG"):
            traceback.print_exc()
        else:
            print("  (set OVERCAST_DEBUG=1 for a traceback)", file=sys.stderr)
        raise typer.Exit(EXIT_ERROR) from None


def parse_pairs(values: Sequence[str] | None, option: str) -> dict[str, str]:
    """["k=v", ...] → {"k": "v"}; a malformed item is a usage error (exit 2)."""
    pairs: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=f"'{option}'")
        pairs[key.strip()] = value
    return pairs
