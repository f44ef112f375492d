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
controller starts the child (`python -m controller.processes.scheduler_process BOARD_FD`, the
controller's settings handed over as the model they are, the board's file descriptor
inherited), restarts it if it exits, and stops it with itself; the child exits when its stdin
closes (child_process.watch_parent).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import asyncpg
import structlog
import uvloop

from controller.processes import child_process
from controller.processes.load_board import LoadBoard, LoadBoardReader
from controller.processes.runtime import tune_gc
from controller.scheduler.policy import build_scheduler
from controller.services.ports import SchedulingStore
from controller.services.scheduling import LoadOf, SchedulerWorkers
from controller.settings import ControllerSettings
from controller.storage import database
from controller.storage.notifications import Listener
from controller.storage.scheduling import PgSchedulingStore
from daemon import logs
from daemon.supervision import exit_on_crash

log = structlog.get_logger(__name__)


def scheduler_workers(
    s: ControllerSettings, store: SchedulingStore, *, heartbeat_window_s: Callable[[], float], load_of: LoadOf
) -> SchedulerWorkers:
    """The scheduler workers the settings describe (in the child, or inline)."""
    return SchedulerWorkers(
        store,
        build_scheduler(s.placement.policy()),
        workers=s.scheduler.workers,
        batch_size=s.scheduler.batch,
        fleet_refresh_s=s.scheduler.fleet_refresh_s,
        wait_for_hosts_s=s.scheduler.wait_for_hosts_s,
        heartbeat_window_s=heartbeat_window_s,
        load_of=load_of,
    )


async def run_child(s: ControllerSettings, board: LoadBoard) -> None:
    """The controller's side: keep one scheduler process running until cancelled."""
    await child_process.run_child(
        "scheduler_process",
        "controller.processes.scheduler_process",
        s,
        args=(str(board.fd),),
        pass_fds=(board.fd,),
        on_started=board.attach,
    )


async def _schedule(s: ControllerSettings, board_fd: int) -> None:
    """The child's side: place pending servers until the controller goes away or stops us."""
    board = LoadBoardReader(board_fd)
    pool = await database.open_pool(s.database.url, min_size=1, max_size=s.scheduler.workers + 1)
    default_window_s = s.heartbeats.host_down_after_s
    workers = scheduler_workers(
        s,
        PgSchedulingStore(pool),
        heartbeat_window_s=lambda: board.heartbeat_window_s(default_window_s),
        load_of=board.fresh_cpu_utils,
    )
    listener = Listener(s.database.url, {"overcast_pending": lambda _: workers.wake()})
    log.info(
        "scheduler_process.serving",
        workers=s.scheduler.workers,
        batch=s.scheduler.batch,
        board_capacity=board.capacity,
    )
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
    s = ControllerSettings.from_parent()
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit(
            "usage: python -m controller.processes.scheduler_process BOARD_FD (started by the controller)"
        )
    logs.configure(s.log.format, s.log.level, controller=s.api.controller_id, process="scheduler")
    tune_gc()
    with exit_on_crash("scheduler_process"):
        try:
            uvloop.run(_schedule(s, int(sys.argv[1])))
        except (OSError, asyncpg.PostgresError) as exc:
            log.error("scheduler_process.failed", error=str(exc))
            sys.exit(1)


if __name__ == "__main__":
    main()
