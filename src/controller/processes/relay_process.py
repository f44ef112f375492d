"""The outbox relay in a process of its own (`--outbox-relay process`, the default).

Publishing is the costliest thing the controller does per message: ~100 µs of aio-pika framing
and publisher-confirm bookkeeping for each spawn command and each event, two of them per
placement. On the controller's event loop that CPU came out of the scheduler and the agents'
streams (it is one core, however many the machine has); in a child process it runs beside
them. The relay needs only PostgreSQL and RabbitMQ, and it is leader-elected already (one
publishes per deployment, the others wait), so nothing else changes: the outbox is the
interface.

The controller starts the child (`python -m controller.processes.relay_process`, handed the
controller's settings as the model they are), restarts it if it exits, and stops it with
itself. The child exits when the controller's end of its stdin pipe closes, so a controller
killed with SIGKILL leaves no relay behind.
"""

from __future__ import annotations

import os
import sys

import aio_pika
import structlog
import uvloop

from controller.bus.relay import OutboxRelay
from controller.processes import child_process
from controller.processes.runtime import tune_gc
from controller.settings import ControllerSettings
from daemon import bus_topology, logs
from daemon.bus_topology import Topology
from daemon.supervision import exit_on_crash

log = structlog.get_logger(__name__)

# The relay runs at a lower CPU priority than its controller. When the machine is short of CPU,
# what cannot wait is the controller's: agents' heartbeats (read late, hosts are declared DOWN),
# placement decisions and API calls. Publishing can lag: the outbox is durable and keeps its
# order. With CPU to spare the niceness costs nothing.
NICENESS = 5


def topology(s: ControllerSettings) -> Topology:
    return Topology(s.bus.prefix, host_queue_type=s.bus.host_queue_type)


def publisher(s: ControllerSettings) -> str:
    """Who the events say published them."""
    return f"controller/{s.api.controller_id}"


async def run_child(s: ControllerSettings) -> None:
    """The controller's side: keep one relay process running until cancelled."""
    await child_process.run_child("relay_process", "controller.processes.relay_process", s)


async def _relay(s: ControllerSettings) -> None:
    """The child's side: relay until the controller goes away (stdin EOF) or stops us."""
    amqp = await bus_topology.connect(s.bus.amqp_url, timeout=10)
    relay = OutboxRelay(s.database.url, amqp, topology(s), publisher(s))
    try:
        await child_process.serve({"outbox-relay": relay.run}, on_line=lambda _line: None)
    finally:
        await amqp.close()
        log.info("relay_process.stopped", published=relay.published)


def main() -> None:
    s = ControllerSettings.from_parent()
    logs.configure(s.log.format, s.log.level, controller=s.api.controller_id, process="outbox-relay")
    os.nice(NICENESS)
    tune_gc()
    with exit_on_crash("relay_process"):
        try:
            uvloop.run(_relay(s))
        except (OSError, aio_pika.exceptions.AMQPError) as exc:
            log.error("relay_process.failed", error=str(exc))
            sys.exit(1)


if __name__ == "__main__":
    main()
