"""Code-quality gates: ruff and mypy (configured in pyproject.toml) report nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the tools installed next to this interpreter


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / tool), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )


def test_ruff_reports_nothing() -> None:
    proc = _run("ruff", "check", "src", "tests", "bench", "scripts")
    assert proc.returncode == 0, f"ruff check failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.timeout(600)  # a cold run (no .mypy_cache) checks every module and its stubs
def test_mypy_reports_nothing() -> None:
    proc = _run("mypy")
    assert proc.returncode == 0, f"mypy failed:\n{proc.stdout}\n{proc.stderr}"
