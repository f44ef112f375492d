"""`overcast flavor ...` and `overcast image ...`: the catalogue servers are built from."""

from __future__ import annotations

from typing import Annotated

import typer
from google.protobuf.message import Message

from ..names import short_id
from .context import State, parse_pairs, session, state_of
from .output import (
    FLAVOR_COLUMNS,
    IMAGE_COLUMNS,
    flavor_row,
    image_row,
    print_details,
    print_json,
    print_table,
)

flavors = typer.Typer(help="Hardware templates for servers.", no_args_is_help=True)
images = typer.Typer(help="Bootable images (metadata only for now).", no_args_is_help=True)

FlavorArg = Annotated[str, typer.Argument(help="Flavor id (e.g. m1.small) or flavors/NAME.")]
ImageArg = Annotated[str, typer.Argument(help="Image id (e.g. cirros) or images/NAME.")]


def _show(state: State, message: Message) -> None:
    if state.json:
        print_json(message)
    else:
        print_details(message)


def _deleted(state: State, kind: str, name: str) -> None:
    # Delete answers google.protobuf.Empty, whose canonical JSON is {}.
    print("{}" if state.json else f"deleted {kind} {short_id(name)}")


# --- flavors ---------------------------------------------------------------------------------


@flavors.command("list")
def list_flavors(ctx: typer.Context) -> None:
    """List flavors."""
    state = state_of(ctx)
    with session(ctx) as client:
        items = list(client.list_flavors())
    if state.json:
        print_json(items)
    else:
        print_table(FLAVOR_COLUMNS, [flavor_row(f) for f in items])


@flavors.command("show")
def show_flavor(ctx: typer.Context, name: FlavorArg) -> None:
    """Show one flavor."""
    with session(ctx) as client:
        _show(state_of(ctx), client.get_flavor(name))


@flavors.command("create")
def create_flavor(
    ctx: typer.Context,
    name: FlavorArg,
    vcpus: Annotated[int, typer.Option("--vcpus", min=1, help="Virtual CPUs.")],
    memory: Annotated[int, typer.Option("--memory", min=1, help="Memory in MiB.")],
    disk: Annotated[int, typer.Option("--disk", min=0, help="Root disk in GiB.")] = 0,
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Create a flavor."""
    with session(ctx) as client:
        _show(state_of(ctx), client.create_flavor(name, vcpus, memory, disk, description))


@flavors.command("delete")
def delete_flavor(ctx: typer.Context, name: FlavorArg) -> None:
    """Delete a flavor."""
    with session(ctx) as client:
        client.delete_flavor(name)
    _deleted(state_of(ctx), "flavor", name)


# --- images ----------------------------------------------------------------------------------


@images.command("list")
def list_images(ctx: typer.Context) -> None:
    """List images."""
    state = state_of(ctx)
    with session(ctx) as client:
        items = list(client.list_images())
    if state.json:
        print_json(items)
    else:
        print_table(IMAGE_COLUMNS, [image_row(i) for i in items])


@images.command("show")
def show_image(ctx: typer.Context, name: ImageArg) -> None:
    """Show one image."""
    with session(ctx) as client:
        _show(state_of(ctx), client.get_image(name))


@images.command("create")
def create_image(
    ctx: typer.Context,
    name: ImageArg,
    disk_format: Annotated[str, typer.Option("--disk-format", help="qcow2, raw, aki or ari.")] = "qcow2",
    min_disk: Annotated[int, typer.Option("--min-disk", min=0, help="Minimum disk, GiB.")] = 0,
    min_memory: Annotated[int, typer.Option("--min-memory", min=0, help="Minimum memory, MiB.")] = 0,
    prop: Annotated[list[str] | None, typer.Option("--property", help="KEY=VALUE (repeatable).")] = None,
) -> None:
    """Register an image (metadata only for now)."""
    properties = parse_pairs(prop, "--property")
    with session(ctx) as client:
        image = client.create_image(
            name,
            disk_format,
            min_disk_gib=min_disk,
            min_memory_mib=min_memory,
            properties=properties,
        )
        _show(state_of(ctx), image)


@images.command("delete")
def delete_image(ctx: typer.Context, name: ImageArg) -> None:
    """Delete an image."""
    with session(ctx) as client:
        client.delete_image(name)
    _deleted(state_of(ctx), "image", name)
