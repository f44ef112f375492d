"""The one configuration scheme (daemon.settings), as the controller, the agent and the fleet
simulation each follow it: every setting a flag and a variable named alike, the same checks
for flags, environment and config file, one-line errors, precedence, and docs that match."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.settings import AgentSettings
from controller.settings import ControllerSettings
from daemon.settings import DaemonSettings, settings_of
from devcluster.simulation.settings import FleetSettings

ROOT = Path(__file__).resolve().parents[2]
MODELS = [ControllerSettings, AgentSettings, FleetSettings]


def failure(model: type[DaemonSettings], argv: list[str], env: dict[str, str], capsys) -> list[str]:  # type: ignore[no-untyped-def]
    """What a daemon says on stderr when it refuses its settings (it must: exit status 2)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        model.load(argv, env)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_setting_has_a_flag_and_a_variable_named_alike(model: type[DaemonSettings], capsys) -> None:  # type: ignore[no-untyped-def]
    found = settings_of(model)
    assert len({s.flag for s in found}) == len(found), "two settings share a flag"
    assert len({s.variable for s in found}) == len(found), "two settings share a variable"
    with pytest.raises(SystemExit):
        model.load(["--help"], {})
    help_text = capsys.readouterr().out
    for s in found:
        assert re.fullmatch(r"--[a-z0-9]+(-[a-z0-9]+)*", s.flag), s.flag
        prefix = s.group_model.variable_prefix
        assert s.variable == "OVERCAST_" + prefix + s.flag[2:].upper().replace("-", "_")
        assert s.help, f"{s.flag} has no description"
        assert s.flag in help_text and s.variable in help_text, f"--help does not list {s.flag}"
        if s.field.endswith("_s"):
            assert s.unit == "seconds"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_setting_is_read_from_its_flag_and_its_variable(model: type[DaemonSettings]) -> None:
    defaults = model.load([], {})
    for s in settings_of(model):
        default = getattr(getattr(defaults, s.group), s.field)
        if s.is_bool:
            given, by_flag = "false" if default else "true", ["--no-" + s.name if default else s.flag]
        else:
            given = _another_value(s.info.annotation, default)
            by_flag = [s.flag, given]
        from_flag = getattr(getattr(model.load(by_flag, {}), s.group), s.field)
        from_env = getattr(getattr(model.load([], {s.variable: given}), s.group), s.field)
        assert from_flag == from_env != default, s.flag


def _another_value(annotation: object, default: object) -> str:
    """A valid value other than the default, as text."""
    from daemon.settings import _choices

    choices = _choices(annotation)
    if choices:
        return next(c for c in choices if c != str(getattr(default, "value", default)))
    if annotation is int:
        return str(int(default) + 3)  # type: ignore[call-overload]
    if annotation is float:
        return str(float(default) + 0.25)  # type: ignore[arg-type]
    if isinstance(default, tuple) and default and hasattr(default[0], "vcpus"):
        return "8:16:100:2"  # a host shape
    if isinstance(default, tuple):
        return "zz1,zz2"
    return "127.0.0.1:4242"  # text (an address is text too)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_bad_value_is_one_line_naming_the_flag_and_the_variable(  # type: ignore[no-untyped-def]
    model: type[DaemonSettings], tmp_path: Path, capsys
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[heartbeats]\ninterval_s = -3\n")
    expected = (
        f"{model.prog}: --heartbeat-interval / OVERCAST_HEARTBEAT_INTERVAL: must be greater than 0 (got -3)"
    )
    assert failure(model, ["--heartbeat-interval", "-3"], {}, capsys) == [expected]
    assert failure(model, [], {"OVERCAST_HEARTBEAT_INTERVAL": "-3"}, capsys) == [expected]
    assert failure(model, ["--config", str(config)], {}, capsys) == [expected]
    assert failure(model, [], {"OVERCAST_CONFIG": str(config)}, capsys) == [expected]
    assert failure(model, [], {"OVERCAST_HEARTBEAT_INTERVAL": "soon"}, capsys) == [
        f"{model.prog}: --heartbeat-interval / OVERCAST_HEARTBEAT_INTERVAL: "
        "must be a number, greater than 0 (got soon)"
    ]
    assert failure(model, [], {"OVERCAST_LOG_FORMAT": "xml"}, capsys) == [
        f"{model.prog}: --log-format / OVERCAST_LOG_FORMAT: must be one of console, json (got xml)"
    ]
    # Two bad values: a line each.
    two = failure(model, ["--log-level", "loud"], {"OVERCAST_HEARTBEAT_INTERVAL": "-3"}, capsys)
    assert two == [expected, f"{model.prog}: --log-level / OVERCAST_LOG_LEVEL: "
                   "must be one of debug, info, warning, error (got loud)"]  # fmt: skip


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_flags_win_over_variables_over_the_file_over_defaults(
    model: type[DaemonSettings], tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[bus]\nprefix = "from-file"\namqp_url = "amqp://file/"\n\n[log]\nlevel = "error"\n')
    env = {
        "OVERCAST_CONFIG": str(config),
        "OVERCAST_BUS_PREFIX": "from-env",
        "OVERCAST_AMQP_URL": "amqp://env/",
    }
    s = model.load(["--bus-prefix", "from-flag"], env)
    assert (s.bus.prefix, s.bus.amqp_url, s.log.level, s.bus.host_queue_type) == (
        "from-flag",
        "amqp://env/",
        "error",
        "quorum",  # the default
    )
    # --config names a file of its own over OVERCAST_CONFIG.
    other = tmp_path / "other.toml"
    other.write_text('[bus]\nprefix = "other-file"\n')
    assert model.load(["--config", str(other)], {"OVERCAST_CONFIG": str(config)}).bus.prefix == "other-file"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_bad_config_file_is_one_line(model: type[DaemonSettings], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "missing.toml"
    assert failure(model, ["--config", str(missing)], {}, capsys) == [
        f"{model.prog}: --config / OVERCAST_CONFIG {missing}: no such file"
    ]
    broken = tmp_path / "broken.toml"
    broken.write_text("[bus\n")
    [line] = failure(model, ["--config", str(broken)], {}, capsys)
    assert line.startswith(f"{model.prog}: --config / OVERCAST_CONFIG {broken}: not TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[buss]\nprefix = 'x'\n")
    [line] = failure(model, ["--config", str(unknown)], {}, capsys)
    assert "[buss] is not a group of settings" in line
    typo = tmp_path / "typo.toml"
    typo.write_text("[bus]\nprefx = 'x'\n")
    assert failure(model, ["--config", str(typo)], {}, capsys) == [
        f"{model.prog}: config file [bus] prefx: not a setting"
    ]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_an_unknown_flag_is_one_line(model: type[DaemonSettings], capsys) -> None:  # type: ignore[no-untyped-def]
    assert failure(model, ["--no-such-flag"], {}, capsys) == [
        f"{model.prog}: unrecognized arguments: --no-such-flag (see --help)"
    ]


def test_the_configuration_reference_is_generated_from_the_models() -> None:
    spec = importlib.util.spec_from_file_location("config_docs", ROOT / "scripts" / "config_docs.py")
    assert spec is not None and spec.loader is not None
    config_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config_docs)
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == config_docs.render(), "docs/configuration.md is stale: run `make config-docs`"
    for model in MODELS:
        for s in settings_of(model):
            assert f"| `{s.flag}` | `{s.variable}` |" in committed


@pytest.mark.parametrize(
    ("module", "prog"),
    [
        ("controller", "overcast controller"),
        ("agent", "overcast agent"),
        ("devcluster.simulation", "overcast fleet simulation"),
    ],
)
def test_a_daemon_started_with_a_bad_value_says_one_line(module: str, prog: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERCAST_")}
    env |= {"PYTHONPATH": str(ROOT / "src"), "OVERCAST_HEARTBEAT_INTERVAL": "-3"}
    proc = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{prog}: --heartbeat-interval / OVERCAST_HEARTBEAT_INTERVAL: must be greater than 0 (got -3)"
    ]
