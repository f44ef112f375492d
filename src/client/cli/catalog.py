"""`overcast flavor ...` and `overcast image ...`: the catalogue servers are built from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from google.protobuf.message import Message

from overcast.v1 import image_pb2

from .. import image_format
from ..errors import OvercastError
from ..names import flavor_name, image_name, short_id
from ..sync import Client
from .context import State, parse_pairs, report, session, state_of
from .output import (
    FLAVOR_COLUMNS,
    IMAGE_COLUMNS,
    by_size,
    flavor_row,
    human_bytes,
    image_row,
    print_data,
    print_deleted,
    print_details,
    print_table,
)
from .progress import transfer_progress

flavors = typer.Typer(help="Hardware templates for servers.", no_args_is_help=True)
images = typer.Typer(help="Bootable images and their data.", no_args_is_help=True)

FlavorArg = Annotated[str, typer.Argument(help="Flavor id (e.g. m1.small) or flavors/NAME.")]
ImageArg = Annotated[str, typer.Argument(help="Image id (e.g. cirros) or images/NAME.")]


def _show(state: State, message: Message) -> None:
    if state.structured:
        print_data(state, message)
    else:
        print_details(message)


# --- flavors ---------------------------------------------------------------------------------


@flavors.command("list")
def list_flavors(ctx: typer.Context) -> None:
    """List flavors."""
    state = state_of(ctx)
    with session(ctx) as client:
        items = by_size(client.list_flavors())
    if state.structured:
        print_data(state, items)
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
    print_deleted(state_of(ctx), "flavor", flavor_name(name))


# --- images ----------------------------------------------------------------------------------


@images.command("list")
def list_images(ctx: typer.Context) -> None:
    """List images."""
    state = state_of(ctx)
    with session(ctx) as client:
        items = list(client.list_images())
    if state.structured:
        print_data(state, items)
    else:
        print_table(IMAGE_COLUMNS, [image_row(i) for i in items])


@images.command("show")
def show_image(ctx: typer.Context, name: ImageArg) -> None:
    """Show one image."""
    with session(ctx) as client:
        _show(state_of(ctx), client.get_image(name))


FileOpt = Annotated[
    Path,
    typer.Option("--file", exists=True, dir_okay=False, readable=True, help="The image data to upload."),
]


@images.command("create")
def create_image(
    ctx: typer.Context,
    name: ImageArg,
    disk_format: Annotated[
        str | None,
        typer.Option(
            "--disk-format",
            help="qcow2, raw, aki or ari (default: told from the --file's bytes, else qcow2).",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            exists=True,
            dir_okay=False,
            readable=True,
            help="Upload this file as the image's data (else the image stays QUEUED, metadata only).",
        ),
    ] = None,
    kernel_image: Annotated[
        str | None, typer.Option("--kernel-image", help="Kernel (aki image) this disk boots with.")
    ] = None,
    ramdisk_image: Annotated[
        str | None, typer.Option("--ramdisk-image", help="Ramdisk (ari image) this disk boots with.")
    ] = None,
    kernel_args: Annotated[str, typer.Option("--kernel-args", help="Kernel command line arguments.")] = "",
    min_disk: Annotated[int, typer.Option("--min-disk", min=0, help="Minimum disk, GiB.")] = 0,
    min_memory: Annotated[int, typer.Option("--min-memory", min=0, help="Minimum memory, MiB.")] = 0,
    prop: Annotated[list[str] | None, typer.Option("--property", help="KEY=VALUE (repeatable).")] = None,
) -> None:
    """Register an image; with --file, upload its data too (progress on stderr)."""
    properties = parse_pairs(prop, "--property")
    state = state_of(ctx)
    disk_format = _disk_format(disk_format, file)
    with session(ctx) as client:
        image = client.create_image(
            name,
            disk_format,
            min_disk_gib=min_disk,
            min_memory_mib=min_memory,
            properties=properties,
            kernel_image=kernel_image,
            ramdisk_image=ramdisk_image,
            kernel_args=kernel_args,
        )
        if file is not None:
            image = _upload(client, state, image.name, file)
        _show(state, image)


@images.command("upload")
def upload_image(ctx: typer.Context, name: ImageArg, file: FileOpt) -> None:
    """Upload the data of a QUEUED image (progress on stderr)."""
    state = state_of(ctx)
    with session(ctx) as client:
        _show(state, _upload(client, state, name, file))


@images.command("download")
def download_image(
    ctx: typer.Context,
    name: ImageArg,
    file: Annotated[Path, typer.Option("--file", dir_okay=False, help="Where to write the data.")],
) -> None:
    """Download an ACTIVE image's data into a file, verified against its sha256."""
    state = state_of(ctx)
    with session(ctx) as client, transfer_progress(short_id(name)) as progress:
        image = client.download_image(name, file, on_progress=progress)
    if state.structured:
        print_data(state, image)
    else:
        size = human_bytes(image.size_bytes)
        print(f"downloaded {short_id(image.name)} to {file} ({size}, sha256 verified)")


def _disk_format(declared: str | None, file: Path | None) -> str:
    """The format to create the image with: as declared, else as the file's bytes say. A
    declared format the bytes contradict is refused before the image record exists."""
    if file is None:
        return declared or "qcow2"
    try:
        detected = image_format.detect_file(file)
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="'--file'") from None
    if declared is None:
        return detected
    why = image_format.contradiction(declared, detected)
    if why:
        raise typer.BadParameter(
            f"{why}: leave --disk-format out to use what the file holds ({detected}), "
            "or upload the right file",
            param_hint="'--disk-format'",
        )
    return declared


def _upload(client: Client, state: State, name: str, file: Path) -> image_pb2.Image:
    try:
        with transfer_progress(short_id(name)) as progress:
            return client.upload_image_data(name, file, on_progress=progress)
    except OvercastError as err:
        code = report(err, state)
        image = short_id(name)
        if not _still_queued(client, name):
            raise typer.Exit(code) from None
        print(
            f"  images/{image} holds no data (QUEUED): retry with `overcast image upload {image} "
            f"--file {file}`, or remove it with `overcast image delete {image}`",
            file=sys.stderr,
        )
        raise typer.Exit(code) from None


def _still_queued(client: Client, name: str) -> bool:
    """Whether the image still waits for its data (then the hint to retry or delete it helps);
    an image that already has data, or is gone, gets no such hint."""
    try:
        return client.get_image(name).status == image_pb2.IMAGE_STATUS_QUEUED
    except OvercastError:
        return False


@images.command("delete")
def delete_image(ctx: typer.Context, name: ImageArg) -> None:
    """Delete an image."""
    with session(ctx) as client:
        client.delete_image(name)
    print_deleted(state_of(ctx), "image", image_name(name))
