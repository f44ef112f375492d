"""The scheduler in a process of its own (`--scheduler process`, the default).

A controller's event loop is one core, however many the machine has, and it is busy: every
agent's stream (a metrics message per host per second: 5,000 a second at 5,000 hosts), their
reports, the API. On that loop the scheduler's batches waited behind all of it between their
database round trips. In a child process the scheduler gets a loop (and a core) of its own.
Measured on the 2-core development VM at 5,000 simulated hosts (bench/scheduler.py, four
back-to-back pairs): 2,566-3,431 placements a second from the child process against
2,317-2,447 on the controller's loop, all on the same two cores.

What the scheduler needs from the controller: the pending servers and the hosts (PostgreSQL,
as before: claims are durable there, replicas already share the work through it), a wake-up
when servers become pending (the same NOTIFY other replicas get), and the live load of every
host, which only the controller has: it posts it on a shared memory board (load_board). The
controller starts the child (`python -m controller.processes.scheduler_process`, settings in its
environment, the board's file descriptor inherited), restarts it if it exits, and stops it
with itself; the child exits when its stdin closes (child_process.watch_parent).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import structlog
import uvloop

from controller.processes import child_process
from controller.processes.load_board import LoadBoard, LoadBoardReader
from controller.processes.runtime import tune_gc
from controller.scheduler.policy import SchedulerPolicy, Strategy, build_scheduler
from controller.services.ports import SchedulingStore
from controller.services.scheduling import LoadOf, SchedulerWorkers
from controller.storage import database
from controller.storage.notifications import Listener
from controller.storage.scheduling import PgSchedulingStore
from daemon import logs
from daemon.supervision import exit_on_crash

log = structlog.get_logger(__name__)

ENVIRONMENT = "OVERCAST_SCHEDULER_PROCESS"  # the child's settings, as JSON


@dataclass(frozen=True)
class SchedulerProcessSettings:
    database_url: str
    log_format: str
    controller_id: str
    workers: int
    batch: int
    fleet_refresh_s: float
    stale_after_s: float
    policy: SchedulerPolicy
    board_fd: int = -1  # set by run_child: the descriptor the child inherits

    def environment(self) -> dict[str, str]:
        return child_process.environment(ENVIRONMENT, self)

    def scheduler_workers(
        self, store: SchedulingStore, *, lag_s: Callable[[], float], load_of: LoadOf
    ) -> SchedulerWorkers:
        """The scheduler workers these settings describe (in the child, or inline)."""
        return SchedulerWorkers(
            store,
            build_scheduler(self.policy),
            workers=self.workers,
            batch_size=self.batch,
            fleet_refresh_s=self.fleet_refresh_s,
            stale_after_s=self.stale_after_s,
            lag_s=lag_s,
            load_of=load_of,
        )

    @classmethod
    def from_environment(cls) -> SchedulerProcessSettings:
        fields = child_process.settings_in_environment(ENVIRONMENT)
        policy = fields.pop("policy")
        policy["strategy"] = Strategy(policy["strategy"])
        return cls(**fields, policy=SchedulerPolicy(**policy))


async def run_child(s: SchedulerProcessSettings, board: LoadBoard) -> None:
    """The controller's side: keep one scheduler process running until cancelled."""
    child = dataclasses.replace(s, board_fd=board.fd)
    await child_process.run_child(
        "scheduler_process",
        "controller.processes.scheduler_process",
        child.environment(),
        pass_fds=(board.fd,),
        on_started=board.attach,
    )


async def _schedule(s: SchedulerProcessSettings) -> None:
    """The child's side: place pending servers until the controller goes away or stops us."""
    board = LoadBoardReader(s.board_fd)
    pool = await database.open_pool(s.database_url, min_size=1, max_size=s.workers + 1)
    workers = s.scheduler_workers(PgSchedulingStore(pool), lag_s=board.lag_s, load_of=board.fresh_cpu_utils)
    listener = Listener(s.database_url, {"overcast_pending": lambda _: workers.wake()})
    log.info("scheduler_process.serving", workers=s.workers, batch=s.batch, board_capacity=board.capacity)
    try:
        await child_process.serve({"listener": listener.run, "scheduler": workers.run}, on_line=board.learn)
    finally:
        await pool.close()
        board.close()
        log.info(
            "scheduler_process.stopped",
            placed=workers.placed,
            no_valid_host=workers.no_valid_host,
            lost_races=workers.lost_races,
        )


def main() -> None:
    s = SchedulerProcessSettings.from_environment()
    logs.configure(s.log_format, controller=s.controller_id, process="scheduler")
    tune_gc()
    with exit_on_crash("scheduler_process"):
        try:
            uvloop.run(_schedule(s))
        except (OSError, asyncpg.PostgresError) as exc:
            log.error("scheduler_process.failed", error=str(exc))
            sys.exit(1)


if __name__ == "__main__":
    main()
