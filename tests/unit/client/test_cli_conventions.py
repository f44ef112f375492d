"""The conventions kubectl and the openstack client taught: options after the command, output
formats for programs, names only, a version, named contexts, each error said once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from client_fakes import FakeController, server
from typer.testing import CliRunner

from client import AsyncClient, Client, config
from client.cli.main import app, version
from client.names import DEFAULT_PROJECT

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def three(fake: FakeController) -> FakeController:
    fake.servers.add(server("web-1"), server("web-2"), server("web-3"))
    return fake


NAMES = [f"projects/demo/servers/web-{i}" for i in (1, 2, 3)]


def test_output_after_the_subcommand(three: FakeController) -> None:
    before = run("--endpoint", three.endpoint, "-o", "json", "server", "list")
    after = run("--endpoint", three.endpoint, "server", "list", "-o", "json")
    assert before == after
    assert [s["name"] for s in json.loads(after[1])] == NAMES


def test_show_json_after_the_name(three: FakeController) -> None:
    code, out, _ = run("--endpoint", three.endpoint, "server", "show", "web-1", "-o", "json")
    assert code == 0 and json.loads(out)["name"] == NAMES[0]


def test_yaml_is_the_same_data_as_json(three: FakeController) -> None:
    _, as_json, _ = run("--endpoint", three.endpoint, "server", "list", "-o", "json")
    code, as_yaml, _ = run("--endpoint", three.endpoint, "server", "list", "--output", "yaml")
    assert code == 0 and yaml.safe_load(as_yaml) == json.loads(as_json)


@pytest.mark.parametrize("flags", [("-q",), ("--quiet",), ("-o", "name")])
def test_names_only(three: FakeController, flags: tuple[str, ...]) -> None:
    code, out, _ = run("--endpoint", three.endpoint, "server", "list", *flags)
    assert (code, out.splitlines()) == (0, NAMES)
    code, out, _ = run("--endpoint", three.endpoint, *flags, "server", "list")
    assert (code, out.splitlines()) == (0, NAMES)


def test_delete_with_names_prints_the_full_name(fake: FakeController) -> None:
    code, out, _ = run("--endpoint", fake.endpoint, "flavor", "delete", "m1.small", "-o", "name")
    assert (code, out) == (0, "flavors/m1.small\n")


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out == f"overcast {version()}\n"
    assert version() != "unknown"  # the test run has the project installed (make setup)


def test_field_violation_said_once(fake: FakeController) -> None:
    code, _, err = run(
        "--endpoint",
        fake.endpoint,
        "server",
        "create",
        "one-violation",
        "--flavor",
        "m1.nope",
        "--image",
        "c",
    )
    assert code == 2
    assert err == "error: server.flavor: flavor m1.nope does not exist\n"


def test_short_flags_mean_one_thing() -> None:
    """-i is --image and -n is --tail wherever they appear; no command gives them another meaning."""
    _, server_create, _ = run("server", "create", "--help")
    _, watch, _ = run("host", "watch-metrics", "--help")
    assert "-i, --image" in server_create and "-i" not in watch.replace("--instances", "")
    assert "-n" not in watch


def _write_config(path: Path, endpoint: str) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "current-context": "lab",
                "contexts": {
                    "lab": {"endpoint": endpoint, "project": "demo"},
                    "other": {"endpoint": "127.0.0.1:1", "project": "elsewhere"},
                },
            }
        )
    )


def test_context_from_the_file(three: FakeController, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    _write_config(cfg, three.endpoint)
    env = {"OVERCAST_CLIENT_CONFIG": str(cfg)}
    code, out, _ = run("server", "list", "-q", env=env)
    assert (code, out.splitlines()) == (0, NAMES)
    code, _, err = run("--context", "other", "server", "list", env=env)
    assert code == 1 and "127.0.0.1:1" in err  # the other context's endpoint was used
    code, _, err = run("server", "list", env={**env, "OVERCAST_CONTEXT": "other"})
    assert code == 1 and "127.0.0.1:1" in err


def test_unknown_context_says_what_exists(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    _write_config(cfg, "127.0.0.1:1")
    code, _, err = run("--context", "nope", "server", "list", env={"OVERCAST_CLIENT_CONFIG": str(cfg)})
    assert code == 2
    assert err.startswith("error: no context 'nope' in ") and "known: lab, other" in err


def test_context_commands_write_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "sub" / "config.yaml"
    env = {"OVERCAST_CLIENT_CONFIG": str(cfg)}
    assert run("context", "set", "a", "--endpoint", "h1:1", "--project", "p1", env=env)[0] == 0
    assert run("context", "set", "b", "--endpoint", "h2:2", env=env)[0] == 0
    assert config.load(cfg).current == "a"  # the first context becomes the current one
    assert run("context", "use", "b", env=env)[0] == 0
    loaded = config.load(cfg)
    assert loaded.current == "b" and loaded.contexts["b"] == config.Context("b", "h2:2", DEFAULT_PROJECT)
    code, out, _ = run("context", "show", env=env)
    assert code == 0 and "endpoint  h2:2" in out and f"project   {DEFAULT_PROJECT}" in out
    assert run("context", "use", "zz", env=env)[0] == 2


def test_malformed_file_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("contexts: [1, 2]\n")
    code, _, err = run("server", "list", env={"OVERCAST_CLIENT_CONFIG": str(cfg)})
    assert code == 2 and str(cfg) in err


def test_library_honours_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.yaml"
    _write_config(cfg, "10.1.2.3:4")
    monkeypatch.setenv("OVERCAST_CLIENT_CONFIG", str(cfg))
    client = Client()
    assert (client.endpoint, client.project) == ("10.1.2.3:4", "demo")
    assert AsyncClient(context="other").project == "elsewhere"
    monkeypatch.setenv("OVERCAST_PROJECT", "mine")
    assert Client().project == "mine"  # a variable beats the file
    assert Client("e:1", project="p").endpoint == "e:1"  # an argument beats both


def test_deleted_is_not_offered_as_a_state(dead_endpoint: str) -> None:
    code, _, err = run("--endpoint", dead_endpoint, "server", "list", "--state", "deleted")
    assert code == 2 and "BUILDING" in err and "DELETED" not in err.replace("'deleted'", "")


def test_flavors_listed_by_size_in_human_units(fake: FakeController) -> None:
    code, out, _ = run("--endpoint", fake.endpoint, "flavor", "list")
    header, *rows = out.splitlines()
    assert code == 0 and header.split() == ["NAME", "VCPUS", "MEMORY", "DISK", "DESCRIPTION"]
    assert rows[0].split()[:4] == ["m1.small", "1", "2GiB", "0B"]


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"QFI\xfb" + bytes(100), "qcow2"),
        (bytes(0x202) + b"HdrS" + bytes(10), "aki"),
        (b"\x1f\x8b\x08" + bytes(10), "ari"),
        (b"070701" + bytes(10), "ari"),
        (bytes(512), "raw"),
    ],
)
def test_image_format_told_from_the_bytes(head: bytes, kind: str) -> None:
    from client import image_format

    assert image_format.detect(head) == kind
    assert image_format.contradiction(kind, kind) is None


def test_image_create_refuses_a_contradicting_format_before_creating(
    dead_endpoint: str, tmp_path: Path
) -> None:
    """Refused before any call: with nothing listening, a call would end in 'cannot reach'."""
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"QFI\xfb" + bytes(1000))
    args = ("--endpoint", dead_endpoint, "image", "create", "img", "--file", str(disk))
    code, _, err = run(*args, "--disk-format", "raw")
    assert code == 2 and "looks like a qcow2 disk image, not a raw disk image" in err
    code, _, err = run(*args, "--disk-format", "aki")
    assert code == 2 and "not a kernel (aki)" in err and "cannot reach" not in err
