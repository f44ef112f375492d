"""Demo runs that never step on each other.

Each `make demo` takes a run of its own: a work directory `.demo/<id>/` holding its pid, the
database `overcast_demo_<id>` and the bus prefix `overcast-demo-<id>`. A second demo started
while the first runs gets other names, so the first one's servers stay where they are. What a
run leaves behind when it is killed (SIGKILL, a closed terminal) is removed by the next demo,
and only once no process with its pid is alive.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devcluster import isolation

PREFIX = "overcast-demo"


@dataclass(frozen=True)
class DemoRun:
    run_id: str
    workdir: Path

    @property
    def database(self) -> str:
        return f"overcast_demo_{self.run_id}"

    @property
    def database_url(self) -> str:
        return isolation.database_url(self.database)

    @property
    def bus_prefix(self) -> str:
        return f"{PREFIX}-{self.run_id}"

    async def release(self, host_ids: list[str]) -> None:
        """Its database, exchanges and host queues (the logs stay until the next demo)."""
        await isolation.drop_database(self.database)
        await isolation.delete_bus(self.bus_prefix, host_ids)

    async def remove(self, host_ids: list[str]) -> None:
        """All of it, work directory and logs too."""
        await self.release(host_ids)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start(root: Path) -> DemoRun:
    """A new run under `root` (the repository's `.demo`), marked with this process's pid."""
    run_id = isolation.new_run_id()
    run = DemoRun(run_id, root / run_id)
    run.workdir.mkdir(parents=True)
    (run.workdir / "pid").write_text(f"{os.getpid()}\n")
    return run


def abandoned(root: Path) -> Iterator[DemoRun]:
    """Runs under `root` whose demo process is gone (or that never recorded one)."""
    if not root.is_dir():
        return
    for workdir in sorted(root.iterdir()):
        if workdir.is_dir() and not _alive(workdir / "pid"):
            yield DemoRun(workdir.name, workdir)


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
