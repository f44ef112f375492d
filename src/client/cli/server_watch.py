"""`overcast server watch`: a live view of the project's servers, one line per change.

The first lines are the servers matching `--filter` now (or, with `--resume-token`, what changed
since that token), then `synced`, then a line per change as it happens. When the stream breaks
(the controller restarted, the watcher fell behind), the view resumes from the last change's
resume token, so nothing is missed and nothing is shown twice. `-o json` prints each change
as a JSON object per line instead.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from google.protobuf import json_format

from overcast.v1 import common_pb2, server_pb2

from ..errors import Unavailable
from .context import session, state_of
from .output import enum_label, short
from .wait import _now

KINDS = {
    server_pb2.ServerChange.KIND_INITIAL: "now",
    server_pb2.ServerChange.KIND_CHANGED: "changed",
    server_pb2.ServerChange.KIND_REMOVED: "left filter",
}


def line(change: server_pb2.ServerChange) -> str:
    s = change.server
    return (
        f"{_now()}  {KINDS.get(change.kind, 'changed'):<11} {short(s.name)}"
        f"  vm_state={enum_label(common_pb2.VmState, s.vm_state)}"
        f" task_state={enum_label(common_pb2.TaskState, s.task_state)}"
        f"  host={short(s.host)}"
    )


def watch(
    ctx: typer.Context,
    filter_: Annotated[
        str,
        typer.Option("--filter", help="AIP-160 filter, e.g. 'vm_state = ACTIVE AND name = \"web-*\"'."),
    ] = "",
    resume_token: Annotated[
        str, typer.Option("--resume-token", help="Show only what changed since this token.")
    ] = "",
    retries: Annotated[int, typer.Option("--retries", min=0, help="Resumes after a broken stream.")] = 5,
) -> None:
    """Follow the project's servers live (Ctrl-C to stop)."""
    state = state_of(ctx)
    token = resume_token
    with session(ctx) as client:
        while True:
            stream = client.watch_servers(state.project, filter=filter_, resume_token=token)
            try:
                for change in stream:
                    token = change.resume_token or token
                    if state.structured:
                        data = json_format.MessageToDict(change, preserving_proto_field_name=True)
                        print(json.dumps(data), flush=True)
                    elif change.kind == server_pb2.ServerChange.KIND_SYNCED:
                        print(f"{_now()}  synced", flush=True)
                    else:
                        print(line(change), flush=True)
            except Unavailable as exc:
                if retries == 0 or not token:
                    raise
                retries -= 1
                print(f"{_now()}  stream broken ({exc}); resuming", flush=True)
                time.sleep(1.0)
            except KeyboardInterrupt:
                return
            finally:
                stream.close()
