"""Architecture checks: the layer rules (import-linter contracts in pyproject.toml) hold, and
the committed protobuf stubs match what the .proto files generate."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "src" / "overcast" / "v1"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def test_import_contracts_hold() -> None:
    lint = ROOT / ".venv" / "bin" / "lint-imports"
    if not lint.exists():  # tests run from another environment: use its import-linter
        lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"lint-imports failed:\n{proc.stdout}\n{proc.stderr}"


def _files(top: Path) -> set[str]:
    return {str(p.relative_to(top)) for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_committed_proto_stubs_match_the_protos(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen_protos.sh"), str(tmp_path)],
        cwd=ROOT,
        env={**_env(), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"gen_protos.sh failed:\n{proc.stdout}\n{proc.stderr}"

    drifted: list[str] = []
    # The public stubs, the agent protocol's, and the .proto files the package ships.
    for sub in (Path("v1"), Path("agent") / "v1", Path("protos")):
        fresh_dir, committed_dir = tmp_path / "overcast" / sub, STUBS.parent / sub
        fresh, committed = _files(fresh_dir), _files(committed_dir)
        if sub == Path("protos"):
            committed.discard("__init__.py")  # written by hand: the directory's accessor
        assert fresh, f"gen_protos.sh generated nothing in overcast/{sub}"
        drifted += (
            [f"{sub}/{name} (missing from src/overcast/{sub})" for name in fresh - committed]
            + [f"{sub}/{name} (no longer generated)" for name in committed - fresh]
            + [
                f"{sub}/{name}"
                for name in fresh & committed
                if not filecmp.cmp(fresh_dir / name, committed_dir / name, shallow=False)
            ]
        )
    drifted.sort()
    assert not drifted, "generated stubs differ from the committed ones: run make protos\n  " + "\n  ".join(
        drifted
    )
