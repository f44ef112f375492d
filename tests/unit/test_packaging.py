"""What users of the package get: the client alone without the daemons' dependencies, extras for
the daemons, and a lock file that covers every range the project declares."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DAEMON_ONLY = {"asyncpg", "libvirt-python", "numpy", "uvloop", "aio-pika", "pydantic-settings", "cronsim"}


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _requirements() -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for extra in PYPROJECT["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra if not r.startswith("overcast[")]
    return reqs


def test_the_lock_pins_every_dependency_within_its_range() -> None:
    pins = _lock()
    for req in _requirements():
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{req.name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]} outside {req}: run `make lock`"
        )


def test_the_client_alone_brings_no_daemon_dependency(tmp_path: Path) -> None:
    """pip's own resolver, asked what `pip install overcast` would install (nothing is)."""
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
         "--report", str(report), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    names = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
    assert {"grpcio", "protobuf", "typer"} <= names
    assert not names & DAEMON_ONLY, f"the client would bring {sorted(names & DAEMON_ONLY)}"


def test_every_typed_package_says_so() -> None:
    for package in ("client", "controller", "agent", "daemon", "overcast", "devcluster"):
        assert (ROOT / "src" / package / "py.typed").exists(), package
    assert "Apache License" in (ROOT / "LICENSE").read_text()
