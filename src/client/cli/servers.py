"""`overcast server ...`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from overcast.v1 import common_pb2, server_pb2

from ..build import vm_state_names
from ..channel import DEFAULT_WAIT_TIMEOUT
from ..errors import Aborted
from ..sync import Client
from .context import State, parse_pairs, session, state_of
from .output import SERVER_COLUMNS, print_data, print_table, server_row
from .server_watch import watch
from .wait import WAIT_TIMEOUT_HELP, show_server, wait_and_show

app = typer.Typer(help="Create, inspect and drive servers.", no_args_is_help=True)
app.command("watch")(watch)

NameArg = Annotated[str, typer.Argument(help="Server id (e.g. web-1) or full resource name.")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Follow the server until it settles.")]
WaitTimeoutOpt = Annotated[float, typer.Option("--wait-timeout", min=0.1, help=WAIT_TIMEOUT_HELP)]


def _state_filter(value: str | None) -> str | None:
    if value is None:
        return None
    names = vm_state_names()
    if value.upper() not in names:
        raise typer.BadParameter(f"expected one of {', '.join(names)}, got {value!r}")
    return value.upper()


def _finish(
    client: Client,
    state: State,
    server: server_pb2.Server,
    *,
    wait: bool,
    expect: int | None,
    wait_timeout: float,
) -> None:
    if wait:
        wait_and_show(client, state, server, expect=expect, timeout=wait_timeout)
    else:
        show_server(state, server)


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    flavor: Annotated[str, typer.Option("--flavor", "-f", help="Flavor, e.g. m1.small.")],
    image: Annotated[str, typer.Option("--image", "-i", help="Image, e.g. cirros.")],
    meta: Annotated[
        list[str] | None,
        typer.Option("--property", "--meta", "-m", help="Metadata KEY=VALUE (repeatable)."),
    ] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Idempotency key (AIP-155).")] = None,
    availability_zone: Annotated[
        str, typer.Option("--availability-zone", "--az", help="Only hosts of this zone.")
    ] = "",
    server_group: Annotated[
        str | None, typer.Option("--server-group", help="Join this server group (see server-group).")
    ] = None,
    kernel: Annotated[
        str | None,
        typer.Option("--kernel-image", "--kernel", help="Boot this kernel (aki) instead of the image's."),
    ] = None,
    ramdisk: Annotated[
        str | None,
        typer.Option("--ramdisk-image", "--ramdisk", help="Boot this initramfs (ari), not the image's."),
    ] = None,
    kernel_args: Annotated[str, typer.Option("--kernel-args", help="Kernel command line.")] = "",
    host_failure_policy: Annotated[
        str,
        typer.Option(
            "--host-failure-policy",
            help="When its host stays DOWN: none (marked) or evacuate (rebuilt on another host).",
        ),
    ] = "none",
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = DEFAULT_WAIT_TIMEOUT,
) -> None:
    """Create a server; with --wait, follow it until ACTIVE or ERROR."""
    metadata = parse_pairs(meta, "--property")
    state = state_of(ctx)
    with session(ctx) as client:
        server = client.create_server(
            name,
            flavor=flavor,
            image=image,
            project=state.project,
            metadata=metadata,
            request_id=request_id,
            availability_zone=availability_zone,
            server_group=server_group,
            kernel_image=kernel,
            ramdisk_image=ramdisk,
            kernel_args=kernel_args,
            host_failure_policy=host_failure_policy,
        )
        _finish(
            client, state, server, wait=wait, expect=common_pb2.VM_STATE_ACTIVE, wait_timeout=wait_timeout
        )


@app.command("list")
def list_(
    ctx: typer.Context,
    vm_state: Annotated[
        str | None,
        typer.Option(
            "--state",
            callback=_state_filter,
            help=f"Only servers in this state ({', '.join(vm_state_names())}).",
        ),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Only servers on this host.")] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Only the members of this scaling group.")
    ] = None,
    filter_: Annotated[
        str,
        typer.Option(
            "--filter",
            help="AIP-160 filter on vm_state, host, server_group, scaling_group, name and metadata.KEY, "
            "e.g. 'vm_state = ACTIVE AND metadata.env = prod AND name = \"web-*\"'.",
        ),
    ] = "",
    order_by: Annotated[
        str, typer.Option("--order-by", help="name (default), 'name desc', create_time, 'create_time desc'.")
    ] = "",
) -> None:
    """List the project's servers."""
    state = state_of(ctx)
    with session(ctx) as client:
        servers = list(
            client.list_servers(
                state.project,
                vm_state=vm_state,
                host=host,
                scaling_group=group,
                filter=filter_,
                order_by=order_by,
            )
        )
    if state.structured:
        print_data(state, servers)
    else:
        print_table(SERVER_COLUMNS, [server_row(s) for s in servers])


@app.command("show")
def show(ctx: typer.Context, name: NameArg) -> None:
    """Show one server."""
    state = state_of(ctx)
    with session(ctx) as client:
        show_server(state, client.get_server(name, state.project))


@app.command("console-log")
def console_log(
    ctx: typer.Context,
    name: NameArg,
    tail: Annotated[
        int, typer.Option("--tail", "-n", min=0, help="Only the last N lines (0 = all kept).")
    ] = 0,
) -> None:
    """Print the server's serial console output, read from its host."""
    state = state_of(ctx)
    with session(ctx) as client:
        log = client.get_console_log(name, state.project, tail_lines=tail)
    if state.structured:
        print_data(state, log)
        return
    sys.stdout.write(log.text if not log.text or log.text.endswith("\n") else log.text + "\n")
    if log.truncated:
        print("(truncated: older output is no longer kept)", file=sys.stderr)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = DEFAULT_WAIT_TIMEOUT,
) -> None:
    """Delete a server; with --wait, follow it until it is gone."""
    state = state_of(ctx)
    with session(ctx) as client:
        server = client.delete_server(name, state.project)
        _finish(client, state, server, wait=wait, expect=None, wait_timeout=wait_timeout)


@app.command("start")
def start(
    ctx: typer.Context,
    name: NameArg,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = DEFAULT_WAIT_TIMEOUT,
) -> None:
    """Power a stopped server on; with --wait, follow it until ACTIVE."""
    state = state_of(ctx)
    with session(ctx) as client:
        server = client.start_server(name, state.project)
        _finish(
            client, state, server, wait=wait, expect=common_pb2.VM_STATE_ACTIVE, wait_timeout=wait_timeout
        )


@app.command("stop")
def stop(
    ctx: typer.Context,
    name: NameArg,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = DEFAULT_WAIT_TIMEOUT,
) -> None:
    """Power a server off; with --wait, follow it until STOPPED."""
    state = state_of(ctx)
    with session(ctx) as client:
        server = client.stop_server(name, state.project)
        _finish(
            client, state, server, wait=wait, expect=common_pb2.VM_STATE_STOPPED, wait_timeout=wait_timeout
        )


@app.command("reboot")
def reboot(
    ctx: typer.Context,
    name: NameArg,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = DEFAULT_WAIT_TIMEOUT,
) -> None:
    """Reboot a server; with --wait, follow it until ACTIVE again."""
    state = state_of(ctx)
    with session(ctx) as client:
        server = client.reboot_server(name, state.project)
        _finish(
            client, state, server, wait=wait, expect=common_pb2.VM_STATE_ACTIVE, wait_timeout=wait_timeout
        )


@app.command("set-meta")
def set_meta(
    ctx: typer.Context,
    name: NameArg,
    pairs: Annotated[
        list[str] | None, typer.Argument(help="KEY=VALUE to set, e.g. sim.cpu=0.7 (simulated load).")
    ] = None,
    unset: Annotated[
        list[str] | None, typer.Option("--unset", "-u", help="KEY to remove (repeatable).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace all metadata with the given pairs.")
    ] = False,
) -> None:
    """Set or remove metadata keys of a server; its host follows (sim.cpu, sim.mem: the
    simulated load profile)."""
    changes = parse_pairs(pairs, "KEY=VALUE")
    if not changes and not unset and not replace:
        raise typer.BadParameter("give KEY=VALUE pairs, --unset KEY or --replace", param_hint="'KEY=VALUE'")
    state = state_of(ctx)
    with session(ctx) as client:
        for attempt in range(1, 4):
            current = client.get_server(name, state.project)
            metadata = {} if replace else dict(current.metadata)
            metadata.update(changes)
            for key in unset or ():
                metadata.pop(key, None)
            try:
                updated = client.update_server_metadata(name, metadata, state.project, etag=current.etag)
                break
            except Aborted:
                if attempt == 3:  # somebody else keeps changing it: say so
                    raise
        show_server(state, updated)


@app.command("set-host-failure-policy")
def set_host_failure_policy(
    ctx: typer.Context,
    name: NameArg,
    policy: Annotated[str, typer.Argument(help="none (marked) or evacuate (rebuilt on another host).")],
) -> None:
    """What happens to a server once its host has been DOWN past the controller's
    --host-failure-grace: none (its fault and power state say so) or evacuate (rebuilt elsewhere)."""
    state = state_of(ctx)
    with session(ctx) as client:
        show_server(state, client.set_host_failure_policy(name, policy, state.project))
