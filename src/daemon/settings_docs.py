"""A daemon's settings as Markdown tables (docs/configuration.md, written by `make
config-docs`): one table per group, each setting's flag, variable, config file key, what is
allowed, its default and what it does."""

from __future__ import annotations

from daemon.settings import DaemonSettings, group_title, settings_of


def markdown(model: type[DaemonSettings]) -> str:
    """A daemon's settings as Markdown tables, one per group (docs/configuration.md)."""
    out = [f"## {model.prog.removeprefix('overcast ').capitalize()}: `{model.command}`", ""]
    if model.summary:
        out += [model.summary, ""]
    group = None
    for s in settings_of(model):
        if s.group != group:
            group = s.group
            out += [
                "",
                f"### {group_title(s.group_model)} `[{group}]`",
                "",
                "| flag | variable | file key | allowed | default | description |",
                "|---|---|---|---|---|---|",
            ]
        value = s.default_value
        default = s.default if value is None else f"`{value}`" + (f" {s.unit}" if s.unit else "")
        help_ = s.help + (f" ({s.unit})" if s.unit and value is None else "")
        cells = [f"`{s.flag}`", f"`{s.variable}`", f"`{s.field}`", s.allowed, default, help_]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
