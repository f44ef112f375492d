"""`overcast group ...`: scaling groups, servers made from one template and kept at a size
their policies choose from live metrics (see `scaling_syntax` for --step and --schedule)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from overcast.v1 import scaling_group_pb2 as pb

from ..channel import DEFAULT_WAIT_TIMEOUT
from ..errors import Aborted
from ..names import flavor_name, image_name, scaling_group_name, server_name
from ..sync import Client
from . import group_watch
from .context import EXIT_USAGE, State, error, parse_pairs, session, state_of
from .output import print_data, print_deleted, print_table
from .scaling_flags import (
    CpuTargetOpt,
    DesiredOpt,
    HealthGraceOpt,
    MetadataOpt,
    MetricOpt,
    NoScaleInOpt,
    PlacementOpt,
    PolicyFlags,
    ProtectOpt,
    ScaleInOpt,
    ScheduleOpt,
    SimpleOpt,
    StepOpt,
    TargetOpt,
    ZoneOpt,
    duration,
    policies,
    schedules,
)
from .scaling_output import (
    ACTIVITY_COLUMNS,
    GROUP_COLUMNS,
    MEMBER_COLUMNS,
    METRIC_COLUMNS,
    activity_row,
    group_details,
    group_row,
    member_row,
    metric_row,
)
from .scaling_syntax import merge_by_name

app = typer.Typer(
    help="Scaling groups: servers from one template, sized by policies on live metrics.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Scaling group id (e.g. web) or full resource name.")]


def _show(state: State, group: pb.ScalingGroup) -> None:
    if state.structured:
        print_data(state, group)
    else:
        print_table(("FIELD", "VALUE"), group_details(group), header=False)


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    flavor: Annotated[str, typer.Option("--flavor", "-f", help="Members' flavor, e.g. m1.small.")],
    image: Annotated[str, typer.Option("--image", "-i", help="Members' image, e.g. cirros.")],
    min_size: Annotated[int, typer.Option("--min", min=0, help="Never fewer members.")],
    max_size: Annotated[int, typer.Option("--max", min=1, help="Never more members.")],
    desired: DesiredOpt = None,
    meta: MetadataOpt = None,
    zone: ZoneOpt = None,
    placement: PlacementOpt = None,
    cpu_target: CpuTargetOpt = None,
    metric: MetricOpt = None,
    target: TargetOpt = None,
    no_scale_in: NoScaleInOpt = False,
    step: StepOpt = None,
    simple: SimpleOpt = None,
    scale_in: ScaleInOpt = None,
    schedule: ScheduleOpt = None,
    protect: ProtectOpt = None,
    health_grace: HealthGraceOpt = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Idempotency key (AIP-155).")] = None,
) -> None:
    """Create a scaling group; it creates its members itself (watch them: group watch NAME)."""
    flags = PolicyFlags(cpu_target, metric, target, no_scale_in, step, simple)
    built_policies, built_schedules = policies(flags), schedules(schedule)
    metadata = parse_pairs(meta, "--metadata")
    grace = duration(health_grace, "--health-grace")
    state = state_of(ctx)
    with session(ctx) as client:
        group = client.create_scaling_group(
            name,
            flavor=flavor,
            image=image,
            min_size=min_size,
            max_size=max_size,
            desired_size=desired,
            project=state.project,
            metadata=metadata,
            availability_zone=zone or "",
            placement_policy=placement,
            policies=built_policies,
            scheduled_actions=built_schedules,
            scale_in_rule=scale_in,
            health_grace=grace,
            protected_members=protect or (),
            request_id=request_id,
        )
        _show(state, group)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the project's scaling groups with their sizes."""
    state = state_of(ctx)
    with session(ctx) as client:
        groups = list(client.list_scaling_groups(state.project))
    if state.structured:
        print_data(state, groups)
    else:
        print_table(GROUP_COLUMNS, [group_row(g) for g in groups])


@app.command("show")
def show(ctx: typer.Context, name: NameArg) -> None:
    """Show a group, its policies' metrics against their targets, and its members."""
    state = state_of(ctx)
    with session(ctx) as client:
        group = client.get_scaling_group(name, state.project)
        if state.structured:
            print_data(state, group)
            return
        members = sorted(client.list_servers(state.project, scaling_group=group.name), key=lambda s: s.name)
    _show(state, group)
    if group.status.metrics:
        print()
        print_table(METRIC_COLUMNS, [metric_row(m) for m in group.status.metrics])
    print()
    protected = set(group.protected_members)
    print_table(MEMBER_COLUMNS, [member_row(s, protected) for s in members])


@app.command("set-size")
def set_size(
    ctx: typer.Context,
    name: NameArg,
    size: Annotated[int, typer.Argument(min=0, help="Members wanted (within the group's min and max).")],
) -> None:
    """Set the desired size now (SetDesiredSize); `group watch NAME --until-size N` waits."""
    state = state_of(ctx)
    with session(ctx) as client:
        _show(state, client.set_desired_size(name, size, state.project))


def _changed_template(
    current: pb.ServerTemplate,
    flavor: str | None,
    image: str | None,
    metadata: dict[str, str],
    zone: str | None,
) -> pb.ServerTemplate | None:
    """The current template with what was given changed, or None when nothing was (its
    placement policy stays: members already placed would not follow a new one)."""
    if flavor is None and image is None and not metadata and zone is None:
        return None
    template = pb.ServerTemplate()
    template.CopyFrom(current)
    if flavor is not None:
        template.flavor = flavor_name(flavor)
    if image is not None:
        template.image = image_name(image)
    template.metadata.update(metadata)
    if zone is not None:
        template.availability_zone = zone
    return template


def _protected(
    current: pb.ScalingGroup, protect: list[str] | None, unprotect: list[str] | None, project: str
) -> list[str] | None:
    """The group's protected members with --protect added and --unprotect removed; None when
    neither was given."""
    if not protect and not unprotect:
        return None
    drop = {server_name(s, project) for s in unprotect or ()}
    kept = [m for m in current.protected_members if m not in drop]
    added = [server_name(s, project) for s in protect or ()]
    return kept + [m for m in dict.fromkeys(added) if m not in kept]


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    flavor: Annotated[str | None, typer.Option("--flavor", "-f", help="Members' flavor from now on.")] = None,
    image: Annotated[str | None, typer.Option("--image", "-i", help="Members' image from now on.")] = None,
    min_size: Annotated[int | None, typer.Option("--min", min=0, help="Never fewer members.")] = None,
    max_size: Annotated[int | None, typer.Option("--max", min=1, help="Never more members.")] = None,
    desired: DesiredOpt = None,
    meta: MetadataOpt = None,
    zone: ZoneOpt = None,
    cpu_target: CpuTargetOpt = None,
    metric: MetricOpt = None,
    target: TargetOpt = None,
    no_scale_in: NoScaleInOpt = False,
    step: StepOpt = None,
    simple: SimpleOpt = None,
    remove_policy: Annotated[
        list[str] | None, typer.Option("--remove-policy", help="Drop the policy of this name (repeatable).")
    ] = None,
    scale_in: ScaleInOpt = None,
    schedule: ScheduleOpt = None,
    remove_schedule: Annotated[
        list[str] | None,
        typer.Option("--remove-schedule", help="Drop the schedule of this name (repeatable)."),
    ] = None,
    protect: ProtectOpt = None,
    unprotect: Annotated[
        list[str] | None, typer.Option("--unprotect", help="A member scale-in may remove again (repeatable).")
    ] = None,
    health_grace: HealthGraceOpt = None,
) -> None:
    """Change what is given and only that (the update_mask names it). Policies and schedules
    replace those of the same name and are added otherwise; metadata keys are set."""
    flags = PolicyFlags(cpu_target, metric, target, no_scale_in, step, simple)
    given_policies, given_schedules = policies(flags), schedules(schedule)
    metadata = parse_pairs(meta, "--metadata")
    grace = duration(health_grace, "--health-grace")
    if not any(
        (
            flavor,
            image,
            min_size is not None,
            max_size is not None,
            desired is not None,
            metadata,
            zone is not None,
            flags.given,
            remove_policy,
            scale_in,
            schedule,
            remove_schedule,
            protect,
            unprotect,
            grace is not None,
        )
    ):
        raise typer.BadParameter("nothing to change: give at least one option (see --help)")
    state = state_of(ctx)
    with session(ctx) as client:
        for attempt in range(1, 4):  # read, change, write with the etag; retried if it moved
            current = client.get_scaling_group(name, state.project)
            try:
                updated = client.update_scaling_group(
                    name,
                    state.project,
                    min_size=min_size,
                    max_size=max_size,
                    desired_size=desired,
                    template=_changed_template(current.template, flavor, image, metadata, zone),
                    policies=(
                        merge_by_name(list(current.policies), given_policies, remove_policy or ())
                        if flags.given or remove_policy
                        else None
                    ),
                    scheduled_actions=(
                        merge_by_name(list(current.scheduled_actions), given_schedules, remove_schedule or ())
                        if schedule or remove_schedule
                        else None
                    ),
                    scale_in_rule=scale_in,
                    health_grace=grace,
                    protected_members=_protected(current, protect, unprotect, state.project),
                    etag=current.etag,
                )
                break
            except Aborted:
                if attempt == 3:  # somebody else keeps changing it: say so
                    raise
        _show(state, updated)


def _confirm_delete(client: Client, state: State, name: str, keep_members: bool) -> None:
    group = client.get_scaling_group(name, state.project)
    members = len(group.members)
    fate = "leaving its members running" if keep_members else f"and its {members} member(s)"
    if not sys.stdin.isatty():
        error(f"not deleting scaling group {group.name} {fate} without --yes (stdin is not a terminal)")
        raise typer.Exit(EXIT_USAGE)
    typer.confirm(f"Delete scaling group {group.name} {fate}?", abort=True, err=True)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    keep_members: Annotated[
        bool, typer.Option("--keep-members", help="Leave the members running as ordinary servers.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Delete a scaling group and its members (or, with --keep-members, only the group)."""
    state = state_of(ctx)
    with session(ctx) as client:
        if not yes:
            _confirm_delete(client, state, name, keep_members)
        client.delete_scaling_group(name, state.project, keep_members=keep_members)
    print_deleted(state, "scaling group", scaling_group_name(name, state.project))


@app.command("history")
def history(
    ctx: typer.Context,
    name: NameArg,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Only the newest N (0 = all).")] = 50,
) -> None:
    """The group's decisions and member changes, newest first."""
    state = state_of(ctx)
    with session(ctx) as client:
        activities = []
        for activity in client.list_scaling_activities(name, state.project, page_size=limit or None):
            activities.append(activity)
            if limit and len(activities) >= limit:
                break
    if state.structured:
        print_data(state, activities)
    else:
        print_table(ACTIVITY_COLUMNS, [activity_row(a) for a in activities])


@app.command("metric")
def metric(
    ctx: typer.Context,
    name: NameArg,
    metric_name: Annotated[str, typer.Argument(metavar="METRIC", help="custom/NAME, as a policy names it.")],
    value: Annotated[float, typer.Argument(help="The value (for the group, or for --member).")],
    member: Annotated[
        str | None, typer.Option("--member", help="A member's own value, not the whole group's.")
    ] = None,
) -> None:
    """Push a custom metric value (RecordGroupMetric): for the group, divided among its
    members, or for one --member."""
    state = state_of(ctx)
    with session(ctx) as client:
        client.record_group_metric(name, metric_name, value, member=member, project=state.project)
    if state.structured:
        print("{}")
    else:
        whose = f"member {member}" if member else f"group {name}"
        print(f"recorded {metric_name}={value:g} for {whose}")


@app.command("watch")
def watch(
    ctx: typer.Context,
    name: NameArg,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between polls.")] = 1.0,
    count: Annotated[
        int, typer.Option("--count", min=0, help="Stop after N lines, or redraws (0 = until Ctrl-C).")
    ] = 0,
    until_size: Annotated[
        int | None,
        typer.Option("--until-size", min=0, help="Stop once the group has N members, all ACTIVE."),
    ] = None,
    wait_timeout: Annotated[
        float,
        typer.Option("--wait-timeout", min=0.1, help="With --until-size: give up (exit 1) after this long."),
    ] = DEFAULT_WAIT_TIMEOUT,
) -> None:
    """Follow a group live: its metrics against the targets, its sizes, its members' state and
    load. Not on a terminal, or with -o json: one JSON line per change."""
    state = state_of(ctx)
    with session(ctx) as client:
        group_watch.watch(
            client,
            state,
            name,
            interval=interval,
            count=count,
            until_size=until_size,
            timeout=wait_timeout,
        )
