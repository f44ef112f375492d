"""The heartbeat flush and the host monitor's queries alone, against a real PostgreSQL.

What `--max-heartbeats-per-second` rests on (decision 0011): the controller records the hosts
heard in an interval with one statement (`PgHostStore.heartbeat`, what `HostService.flush`
runs), and its leader's monitor counts each zone's silent hosts and marks them DOWN
(`zone_health`, `mark_down_silent`), leaving out the hosts heard but not recorded yet. Here
`--hosts` hosts (one size or several, comma-separated) are rows in a fresh database, and each
statement runs `--rounds` times in a row on one connection, with every host heard (the most a
flush writes) and with none; nothing else runs in this process.

Prints progress on stderr and one JSON object on stdout: for each size, the flush's time
(`flush_ms_p50`, `flush_ms_p90`) and `flush_rows_per_s` (hosts recorded per second of flushing,
at p50), and the monitor's `zone_health_ms_p50` (with every host heard, and with none),
`mark_down_none_ms_p50` (nothing silent); `loadavg_1m` when it started and ended (the machine
is shared: a busy one makes every figure slower).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import uvloop

from controller.domain.messages import host_event
from controller.storage import database
from controller.storage.hosts import PgHostStore
from devcluster import isolation


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def timed(rounds: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    """Milliseconds of each of `rounds` calls (after one not counted: plans, caches)."""
    await call()
    took = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await call()
        took.append((time.perf_counter() - t0) * 1000)
    return took


async def measure(url: str, hosts: int, rounds: int) -> dict[str, float]:
    ids = [f"sim-{i:05d}" for i in range(hosts)]
    pool = await database.open_pool(url, min_size=1, max_size=2)
    try:
        await pool.execute("TRUNCATE hosts, host_status CASCADE")
        await pool.execute(
            """INSERT INTO hosts (id, hostname, arch, hypervisor_type, availability_zone, vcpus,
                   memory_mib, disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio)
               SELECT id, id, 'x86_64', 'test', 'az' || (1 + n % 2), 32, 131072, 2000, 4.0, 1.0, 1.0
               FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n)""",
            ids,
        )
        await pool.execute(
            """INSERT INTO host_status (id, state, last_heartbeat)
               SELECT id, 'UP', now() FROM unnest($1::text[]) id""",
            ids,
        )
        store = PgHostStore(pool)
        up = lambda h: host_event(h, "host.up")  # noqa: E731
        down = lambda h: host_event(h, "host.down")  # noqa: E731
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)

        def flush() -> Awaitable[object]:
            return store.heartbeat(ids, datetime.now(UTC), up)

        flush_ms = await timed(rounds, flush)
        heard_ms = await timed(rounds, lambda: store.zone_health(long_ago, long_ago, ids))
        none_ms = await timed(rounds, lambda: store.zone_health(long_ago, long_ago, ()))
        mark_ms = await timed(rounds, lambda: store.mark_down_silent(long_ago, ["az1", "az2"], down, ids))
        p50 = statistics.median(flush_ms)
        return {
            "hosts": hosts,
            "flush_ms_p50": round(p50, 1),
            "flush_ms_p90": round(statistics.quantiles(flush_ms, n=10)[-1], 1),
            "flush_rows_per_s": round(hosts / p50 * 1000),
            "zone_health_ms_p50_all_heard": round(statistics.median(heard_ms), 1),
            "zone_health_ms_p50_none_heard": round(statistics.median(none_ms), 1),
            "mark_down_none_ms_p50": round(statistics.median(mark_ms), 1),
        }
    finally:
        await pool.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    name = f"overcast_bench_{isolation.new_run_id()}_flush"
    url = isolation.database_url(name)
    await database.ensure_database(url)
    await database.migrate(url)
    load_before = os.getloadavg()[0]
    try:
        sizes = []
        for hosts in args.hosts:
            log(f"{hosts} hosts: {args.rounds} rounds of each statement")
            sizes.append(await measure(url, hosts, args.rounds))
            log(json.dumps(sizes[-1]))
    finally:
        await isolation.drop_database(name)
    return {
        "sizes": sizes,
        "rounds": args.rounds,
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cores": os.cpu_count(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--hosts", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 2000, 5000, 10000]
    )
    p.add_argument("--rounds", type=int, default=30)
    print(json.dumps(uvloop.run(run(p.parse_args()))))


if __name__ == "__main__":
    main()
