"""The database connections one controller replica may hold at once, by what holds them, from
its settings (checked against PostgreSQL's max_connections at startup:
`controller.storage.connection_budget`). Keep it beside the code that opens them: a new
dedicated connection belongs here too."""

from __future__ import annotations

from controller.settings import ControllerSettings

# Leader roles run by every replica (controller.app): each waits for its lock, and holds it, on
# a connection of its own (controller.storage.leadership): autoscaler, host monitor, table upkeep.
LEADER_ROLES = 3


def needed(s: ControllerSettings) -> dict[str, int]:
    scheduler = s.scheduler.workers + 1 + 1 if s.scheduler.mode == "process" else 0  # pool + listener
    return {
        "pool": s.database.pool_size,
        "listener": 1,
        "leader locks": LEADER_ROLES + (1 if s.commands.expiry_s > 0 else 0),
        "outbox relay": 1,  # its leader lock, inline or in its child process
        "scheduler process": scheduler,
        "image uploads": s.admission.max_uploads,
    }
