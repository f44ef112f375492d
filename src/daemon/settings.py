"""How a daemon is configured: one model, three sources, one way to name and check a setting.

A daemon's settings are a pydantic-settings model (`DaemonSettings`) whose fields are groups
(`Group`: database, bus, scheduler, ...), each a model of typed, bounded fields. Every field is
a setting with one name, from which both of its spellings derive:

- its name is the field's, in kebab case and without the `_s` that marks seconds
  (`heartbeats.interval_s` could be `interval`), unless the field names one (`heartbeat-interval`:
  names are unique within a daemon and keep the flags operators already use);
- its flag is `--NAME`, its environment variable `OVERCAST_` + the group's variable prefix +
  NAME in upper snake case (`OVERCAST_HEARTBEAT_INTERVAL`);
- in a TOML config file (`--config FILE` or `OVERCAST_CONFIG`) it is the field in its group's
  section (`[heartbeats]` `interval_s = 2.0`).

Flags win over the environment, which wins over the file, which wins over the defaults. Every
value, from wherever, goes through the same model: a bad one ends the process with exit status
2 and one line naming the flag, the variable and what is allowed, never a traceback.

A daemon hands its child processes the same model, serialised (`child_environment`) and
validated again on their side (`from_parent`).
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NoReturn, Self

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import TomlConfigSettingsSource

ENV_PREFIX = "OVERCAST_"
CONFIG_VARIABLE = "OVERCAST_CONFIG"
# A child process's settings: the parent's model as JSON (not the parent's flags and
# environment, which the child would have to interpret the same way).
CHILD_VARIABLE = "OVERCAST_SETTINGS_JSON"
EXIT_USAGE = 2  # as argparse: the command line (or its environment) is wrong

LogFormat = Literal["console", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]
# Host command queues: durable quorum queues, durable classic queues, or transient classic
# queues (no disk: a fleet simulation's thousands of hosts on one broker). The controller and
# its agents must declare them alike.
HostQueueType = Literal["quorum", "classic", "transient"]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def setting(
    default: Any = PydanticUndefined,
    *,
    help: str,
    name: str | None = None,
    unit: str | None = None,
    allowed: str | None = None,
    default_text: str | None = None,
    default_factory: Callable[[], Any] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> Any:
    """A field that is a setting. `name` overrides the derived one; `unit` is shown with its
    default (fields ending in `_s` are in seconds); `allowed` replaces the description of
    its type and bounds; `default_text` describes a default that is not a constant."""
    extra = {"name": name, "unit": unit, "allowed": allowed, "default_text": default_text}
    described: dict[str, Any] = {
        "description": help,
        "json_schema_extra": {k: v for k, v in extra.items() if v is not None},
        **{k: v for k, v in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if v is not None},
    }
    if default_factory is not None:
        return Field(default_factory=default_factory, **described)
    return Field(default, **described)


class Group(BaseModel):
    """A group of settings; its docstring's first line is its title in --help and the docs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    variable_prefix: ClassVar[str] = ""  # between OVERCAST_ and the name (the fleet's SIM_)


class LogSettings(Group):
    """Logs: structured lines on stderr."""

    format: LogFormat = setting(
        "console", name="log-format", help="console: for people; json: one object a line"
    )
    level: LogLevel = setting("info", name="log-level", help="the least severe level written")


class BusSettings(Group):
    """Message bus: RabbitMQ."""

    amqp_url: str = setting("amqp://guest:guest@127.0.0.1:5672/", help="RabbitMQ URL")
    prefix: str = setting(
        "overcast", name="bus-prefix", help="prefix of exchange and queue names (one per deployment)"
    )
    host_queue_type: HostQueueType = setting(
        "quorum",
        help="hosts' command queues (transient: no disk, for fleet simulations); the controller and"
        " its agents must agree",
    )


class HeartbeatSettings(Group):
    """Heartbeats: how often an agent says it is alive."""

    interval_s: float = setting(
        1.0,
        gt=0,
        name="heartbeat-interval",
        help="time between agent heartbeats (the controller tells its agents)",
    )


class MetricsSettings(Group):
    """Metrics: the agents' load samples."""

    interval_s: float = setting(
        1.0,
        ge=0,
        name="metrics-interval",
        help="time between metrics samples (each also a heartbeat); 0: none, heartbeats only",
    )


# --- What a setting is called, where ------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One field of one group, with the names it goes by."""

    group: str
    field: str
    info: FieldInfo
    group_model: type[Group]

    @property
    def _extra(self) -> dict[str, Any]:
        extra = self.info.json_schema_extra
        return extra if isinstance(extra, dict) else {}

    @property
    def name(self) -> str:
        return str(self._extra.get("name") or self.field.removesuffix("_s").replace("_", "-"))

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.group_model.variable_prefix + self.name.upper().replace("-", "_")

    @property
    def field_dest(self) -> str:
        """Where argparse keeps its value."""
        return f"{self.group}.{self.field}"

    @property
    def file_key(self) -> str:
        return f"[{self.group}] {self.field}"

    @property
    def unit(self) -> str:
        return str(self._extra.get("unit") or ("seconds" if self.field.endswith("_s") else ""))

    @property
    def is_bool(self) -> bool:
        return self.info.annotation is bool

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.info.annotation) in (tuple, list)

    @property
    def allowed(self) -> str:
        """What values are allowed, in words: `a number, greater than 0`."""
        if "allowed" in self._extra:
            return str(self._extra["allowed"])
        choices = _choices(self.info.annotation)
        if choices:
            return "one of " + ", ".join(choices)
        if self.is_bool:
            return f"true or false (flags: {self.flag}, --no-{self.name})"
        kind = _KINDS.get(self.info.annotation, "text")
        if any(getattr(m, "min_length", 0) for m in self.info.metadata):
            kind += ", not empty"
        bounds = self.bounds
        return f"{kind}, {bounds}" if bounds else kind

    @property
    def bounds(self) -> str:
        words = []
        for m in self.info.metadata:
            for attr, phrase in (
                ("gt", "greater than"),
                ("ge", "at least"),
                ("lt", "less than"),
                ("le", "at most"),
            ):
                value = getattr(m, attr, None)
                if isinstance(m, annotated_types.BaseMetadata) and value is not None:
                    words.append(f"{phrase} {_number(value)}")
        return " and ".join(words)

    @property
    def default_value(self) -> str | None:
        """The default as a value one could give, or None where words describe it."""
        if "default_text" in self._extra:
            return None
        value = _shown(self.info.get_default(call_default_factory=True))
        return value or None

    @property
    def default(self) -> str:
        """The default, as --help shows it: a value with its unit, or words."""
        value = self.default_value
        if value is None:
            return str(self._extra.get("default_text", "empty"))
        return f"{value} {self.unit}" if self.unit else value

    @property
    def help(self) -> str:
        return self.info.description or ""


_KINDS: dict[Any, str] = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _choices(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    return []


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(_shown(v) for v in value)
    return str(value)


def settings_of(model: type[DaemonSettings]) -> list[Setting]:
    """Every setting of a daemon, group by group."""
    found = []
    for group, info in model.model_fields.items():
        group_model = info.annotation
        assert isinstance(group_model, type) and issubclass(group_model, Group), f"{group}: not a Group"
        for field, field_info in group_model.model_fields.items():
            found.append(Setting(group, field, field_info, group_model))
    return found


def group_title(model: type[Group]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0].rstrip(".")


# --- Sources ------------------------------------------------------------------------------


class _Nested(PydanticBaseSettingsSource):
    """Values of some settings, nested by group as the model takes them."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, dict[str, Any]]) -> None:
        super().__init__(settings_cls)
        self._values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._values


class FlagSource(_Nested):
    """The flags given on the command line (argparse, each one's value as given)."""

    def __init__(self, settings_cls: type[DaemonSettings], given: argparse.Namespace) -> None:
        values: dict[str, dict[str, Any]] = {}
        for s in settings_of(settings_cls):
            if hasattr(given, s.field_dest):
                values.setdefault(s.group, {})[s.field] = getattr(given, s.field_dest)
        super().__init__(settings_cls, values)


class EnvironmentSource(_Nested):
    """The OVERCAST_* variables set (empty ones included: an empty address means "off")."""

    def __init__(self, settings_cls: type[DaemonSettings], env: Mapping[str, str]) -> None:
        values: dict[str, dict[str, Any]] = {}
        for s in settings_of(settings_cls):
            if s.variable in env:
                values.setdefault(s.group, {})[s.field] = env[s.variable]
        super().__init__(settings_cls, values)


class SettingsError(Exception):
    """Bad settings: one line per problem, each naming the setting and what is allowed."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


# --- The model ----------------------------------------------------------------------------


class DaemonSettings(BaseSettings):
    """A daemon's settings: groups of settings, read from flags, environment and a file."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)
    prog: ClassVar[str] = "overcast"  # as the daemon names itself in errors: "overcast controller"
    command: ClassVar[str] = "python -m ..."
    summary: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Built without `load`, a model takes only what it is given (tests, children): never
        # pydantic-settings' own environment reading, whose names are not ours.
        return (init_settings,)

    @classmethod
    def load(cls, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Self:
        """The settings from flags, environment and config file; on bad input, one line per
        problem on stderr and exit status 2."""
        try:
            return cls.parse(argv, env)
        except SettingsError as exc:
            _exit(cls.prog, exc.lines)

    @classmethod
    def parse(cls, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Self:
        """As `load`, raising SettingsError for bad values instead of exiting (a command line
        argparse cannot read, and --help, still exit as argparse does)."""
        env = os.environ if env is None else env
        given = cls.flag_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
        sources: list[PydanticBaseSettingsSource] = [FlagSource(cls, given), EnvironmentSource(cls, env)]
        config = given.config if given.config is not None else env.get(CONFIG_VARIABLE)
        if config:
            sources.append(_config_file(cls, Path(config)))
        try:
            # pydantic-settings' way to build from sources of one's own (its CliApp's too);
            # mypy sees only the fields in the model's __init__.
            return cls(_build_sources=(tuple(sources), {}))  # type: ignore[call-arg]
        except ValidationError as exc:
            raise SettingsError(explain(cls, exc)) from None

    @classmethod
    def flag_parser(cls) -> argparse.ArgumentParser:
        """Every setting as a flag (--help lists each with its variable, default and unit)."""
        p = _Parser(
            prog=cls.command,
            description=cls.summary,
            epilog=f"Precedence: flags, then OVERCAST_* variables, then the config file, then defaults. "
            f"Errors name the flag and the variable, as '{cls.prog}: --flag / OVERCAST_VAR: ...'.",
        )
        p.daemon = cls.prog
        p.add_argument(
            "--config",
            metavar="FILE",
            help=f"TOML file of settings, a [section] per group below [{CONFIG_VARIABLE}]",
        )
        groups: dict[str, argparse._ArgumentGroup] = {}
        for s in settings_of(cls):
            if s.group not in groups:
                groups[s.group] = p.add_argument_group(f"{group_title(s.group_model)} [{s.group}]")
            unit = f" ({s.unit})" if s.unit and s.default_value is None else ""
            text = f"{s.help}{unit}; {s.allowed}; default {s.default} [{s.variable}]".replace("%", "%%")
            kwargs: dict[str, Any] = {"dest": s.field_dest, "default": argparse.SUPPRESS, "help": text}
            if s.is_bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["metavar"] = _metavar(s)
                if s.is_list:
                    kwargs["action"] = "append"
            groups[s.group].add_argument(s.flag, **kwargs)
        return p

    def child_environment(self) -> dict[str, str]:
        """These settings for a child process (see `from_parent`)."""
        return {CHILD_VARIABLE: self.model_dump_json()}

    @classmethod
    def from_parent(cls, env: Mapping[str, str] | None = None) -> Self:
        """The child's side of `child_environment`: the parent's settings, validated again."""
        text = (os.environ if env is None else env).get(CHILD_VARIABLE)
        if text is None:
            _exit(cls.prog, [f"{CHILD_VARIABLE} is not set: this process is started by its parent"])
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            _exit(cls.prog, explain(cls, exc))


def _metavar(s: Setting) -> str:
    choices = _choices(s.info.annotation)
    if choices:
        return "{" + ",".join(choices) + "}"
    if s.unit:
        return s.unit.upper()
    return {int: "N", float: "NUMBER"}.get(typing.cast(type, s.info.annotation), "TEXT")


class _Parser(argparse.ArgumentParser):
    daemon = "overcast"

    def error(self, message: str) -> NoReturn:
        _exit(self.daemon, [f"{message} (see --help)"])


def _exit(prog: str, lines: Sequence[str]) -> NoReturn:
    for line in lines:
        print(f"{prog}: {line}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _config_file(cls: type[DaemonSettings], path: Path) -> PydanticBaseSettingsSource:
    where = f"--config / {CONFIG_VARIABLE} {path}"
    if not path.is_file():
        raise SettingsError([f"{where}: no such file"])
    try:
        source = TomlConfigSettingsSource(cls, path)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise SettingsError([f"{where}: not TOML: {exc}"]) from None
    groups = cls.model_fields
    problems = []
    for section, values in source.toml_data.items():
        if section not in groups:
            problems.append(f"{where}: [{section}] is not a group of settings (groups: {', '.join(groups)})")
        elif not isinstance(values, dict):
            problems.append(f"{where}: {section} must be a [{section}] section")
    if problems:
        raise SettingsError(problems)
    return source


# --- Errors -------------------------------------------------------------------------------


def explain(model: type[DaemonSettings], exc: ValidationError) -> list[str]:
    """One line per bad value: `--flag / OVERCAST_VAR: must be ... (got ...)`."""
    by_field = {(s.group, s.field): s for s in settings_of(model)}
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        s = by_field.get((str(loc[0]), str(loc[1]))) if len(loc) >= 2 else None
        if s is None:
            where = ".".join(str(p) for p in loc) or "settings"
            if error["type"] == "extra_forbidden" and len(loc) == 2:
                lines.append(f"config file [{loc[0]}] {loc[1]}: not a setting")
            else:
                lines.append(f"{where}: {error['msg']}")
            continue
        lines.append(f"{s.flag} / {s.variable}: {_must(s, error)} (got {_got(error.get('input'))})")
    return lines


def _must(s: Setting, error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"must be {s.bounds}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "string_too_short":
        return "must not be empty"
    return f"must be {s.allowed}"


def _got(value: Any) -> str:
    if isinstance(value, str):
        return value if value and value.strip() == value else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return str(value)
