"""Named contexts: which controller and project a client talks to, as kubeconfig and clouds.yaml
keep them.

The file is YAML, at `$OVERCAST_CLIENT_CONFIG` or else `$XDG_CONFIG_HOME/overcast/config.yaml`
(`~/.config/overcast/config.yaml`):

    current-context: lab
    contexts:
      lab:
        endpoint: 10.0.0.5:50051
        project: web

What a client uses, most specific first: what the caller passes (a `--endpoint` flag, an
argument to `Client`), then `OVERCAST_ENDPOINT` / `OVERCAST_PROJECT`, then the context named by
`--context` / `OVERCAST_CONTEXT` or else the file's `current-context`, then the defaults
(127.0.0.1:50051, project `default`). No file is fine; a file that cannot be read, or a context
it does not hold, is a `ConfigError` saying which file and what to fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .channel import DEFAULT_ENDPOINT
from .names import DEFAULT_PROJECT

CONFIG_ENV = "OVERCAST_CLIENT_CONFIG"
CONTEXT_ENV = "OVERCAST_CONTEXT"
ENDPOINT_ENV = "OVERCAST_ENDPOINT"
PROJECT_ENV = "OVERCAST_PROJECT"


class ConfigError(Exception):
    """The client configuration file or a context named by the caller is unusable."""


@dataclass(frozen=True)
class Context:
    name: str  # "" when no context was used
    endpoint: str = DEFAULT_ENDPOINT
    project: str = DEFAULT_PROJECT


@dataclass
class ClientConfig:
    path: Path
    contexts: dict[str, Context] = field(default_factory=dict)
    current: str = ""

    def context(self, name: str) -> Context:
        try:
            return self.contexts[name]
        except KeyError:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise ConfigError(
                f"no context {name!r} in {self.path} (known: {known}); "
                f"add it with `overcast context set {name} --endpoint HOST:PORT --project ID`"
            ) from None

    def save(self) -> None:
        data: dict[str, Any] = {
            "current-context": self.current or None,
            "contexts": {
                c.name: {"endpoint": c.endpoint, "project": c.project}
                for c in sorted(self.contexts.values(), key=lambda c: c.name)
            },
        }
        if not data["current-context"]:
            del data["current-context"]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))
        tmp.replace(self.path)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "overcast" / "config.yaml"


def load(path: Path | None = None) -> ClientConfig:
    """The file at `path` (default `config_path()`); an empty config when there is none."""
    path = config_path() if path is None else path
    try:
        raw = yaml.safe_load(path.read_text()) if path.exists() else None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if raw is None:
        return ClientConfig(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("contexts", {}), dict):
        raise ConfigError(f"{path}: expected a mapping with `contexts:` (see `overcast context --help`)")
    contexts: dict[str, Context] = {}
    for name, entry in (raw.get("contexts") or {}).items():
        if not isinstance(entry, dict) or not set(entry) <= {"endpoint", "project"}:
            raise ConfigError(f"{path}: context {name!r} takes only `endpoint` and `project`")
        contexts[str(name)] = Context(
            str(name),
            str(entry.get("endpoint") or DEFAULT_ENDPOINT),
            str(entry.get("project") or DEFAULT_PROJECT),
        )
    current = str(raw.get("current-context") or "")
    config = ClientConfig(path, contexts, current)
    if current:
        config.context(current)  # a current context the file does not hold is an error now
    return config


def resolve(
    endpoint: str | None = None,
    project: str | None = None,
    context: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Context:
    """The endpoint and project to use (see the module docstring for the order)."""
    env = os.environ if env is None else env
    context = context or env.get(CONTEXT_ENV) or None
    base = Context("")
    path = config_path(env)
    if not (endpoint and project) and (context or path.exists()):
        config = load(path)
        name = context or config.current
        if name:
            base = config.context(name)
    return Context(
        base.name,
        endpoint or env.get(ENDPOINT_ENV) or base.endpoint,
        project or env.get(PROJECT_ENV) or base.project,
    )
