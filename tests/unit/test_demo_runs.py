"""Demo runs side by side: each its own names; only a dead demo's leftovers are reclaimed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devcluster import demo_runs


def test_runs_have_their_own_names_and_only_dead_ones_are_abandoned(tmp_path: Path) -> None:
    first, second = demo_runs.start(tmp_path), demo_runs.start(tmp_path)
    assert first.database != second.database and first.bus_prefix != second.bus_prefix
    assert first.workdir != second.workdir and first.workdir.is_dir()
    assert list(demo_runs.abandoned(tmp_path)) == []  # both belong to this live process

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (second.workdir / "pid").write_text(dead.stdout)  # as if its demo had been killed
    assert [r.run_id for r in demo_runs.abandoned(tmp_path)] == [second.run_id]
