"""Host use cases: agent registration and heartbeats, up/down, maintenance."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import structlog

from controller.domain import limits, names, paging
from controller.domain.errors import ViolationCollector
from controller.domain.host_health import HealthPolicy, LivenessClock, ZoneGuard, ZoneVerdict, scaled_interval
from controller.domain.messages import host_event
from controller.domain.model import Host, HostInventory, PowerState
from controller.services.ports import HostStore
from controller.services.servers import ServerService

log = structlog.get_logger(__name__)

_LAG_SAMPLE = 512
ZONE_REMINDER_S = 60.0  # while a zone is held, its warning is repeated this often


@dataclass(frozen=True)
class AllocationRatios:
    cpu: float = 4.0
    ram: float = 1.0
    disk: float = 1.0


def _at(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


class HostService:
    def __init__(
        self,
        store: HostStore,
        servers: ServerService,
        ratios: AllocationRatios,
        health: HealthPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._servers = servers
        self._ratios = ratios
        self._health = health or HealthPolicy()
        self._clock = clock
        self._interval = self._health.interval_s  # scaled with the fleet (scaled_interval)
        self._interval_listeners: list[Callable[[float], None]] = []
        self._previous_window = (0.0, 0.0)  # a window kept after the interval shrank, and until when
        self._beats: set[str] = set()  # hosts heard since the flush under way took its beats
        self._flushing: frozenset[str] = frozenset()  # beats the flush under way is recording
        self._streams: Counter[str] = Counter()  # hosts streaming to this controller (streams each)
        self._liveness = LivenessClock(self._health.large_zone_size)
        self._zones = ZoneGuard(self._health)
        self._zone_warned: dict[str, float] = {}  # held zone -> wall time of its last warning
        # How late this controller reads its agents' messages: the median delay between an
        # agent's send time and our read, per interval (a few streams read on time do not hide
        # that most are late, and a few agents with wrong clocks do not make it look late).
        # The liveness clock covers the rest of its lag: hearing each host less often than it
        # sends, recording heartbeats late, or not running at all.
        self._lags: list[float] = []  # this interval's, a uniform sample of at most _LAG_SAMPLE
        self._lags_seen = 0
        self._read_lags: deque[float] = deque(maxlen=8)

    # -- agents' streams and heartbeats -------------------------------------------------------

    @property
    def heartbeat_interval_s(self) -> float:
        """The interval agents are told to beat at: the configured one, grown with the fleet."""
        return self._interval

    @property
    def down_after_s(self) -> float:
        """The window of silence after which a host is DOWN, at the current interval (on the
        liveness clock: this controller's own lag does not count). After the interval shrank,
        the old window holds for as long again: an agent takes a new interval after the beat
        it is waiting for, at the old one."""
        window = self._health.down_after(self._interval)
        kept, until = self._previous_window
        return max(window, kept) if self._clock() < until else window

    def on_interval_change(self, listener: Callable[[float], None]) -> None:
        """Call `listener(interval_s)` whenever the heartbeat interval changes."""
        self._interval_listeners.append(listener)

    def connected(self, host_id: str) -> None:
        """An agent's stream to this controller is open (after its registration)."""
        self._streams[host_id] += 1

    def disconnected(self, host_id: str) -> None:
        self._streams[host_id] -= 1
        if self._streams[host_id] <= 0:
            del self._streams[host_id]

    async def register(
        self,
        inv: HostInventory,
        domains: Sequence[tuple[UUID, PowerState]],
        generations: Mapping[UUID, int] | None = None,
    ) -> Host:
        names.check_host_id(inv.host_id, "register.inventory.host_id")
        host = await self._store.register(
            inv,
            (self._ratios.cpu, self._ratios.ram, self._ratios.disk),
            lambda h: host_event(h, "host.up"),
        )
        # Level-triggered correction: compare the host's whole inventory with the database.
        await self._servers.reconcile(inv.host_id, dict(domains), generations)
        return host

    def heartbeat(self, host_id: str, sent_at: float = 0.0) -> None:
        """Recorded in memory and flushed in one statement per interval for all hosts.
        `sent_at`: when the agent sent it (seconds since the epoch; 0 = unknown)."""
        self._beats.add(host_id)
        if sent_at > 0:
            lag = self._clock() - sent_at
            self._lags_seen += 1
            if len(self._lags) < _LAG_SAMPLE:
                self._lags.append(lag)
            else:  # reservoir sampling: every message of the interval equally likely kept
                k = random.randrange(self._lags_seen)
                if k < _LAG_SAMPLE:
                    self._lags[k] = lag

    async def flush_heartbeats(self) -> None:
        """Flush on a fixed beat: a slow flush does not push the next one back."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self._interval
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_at = loop.time()  # behind: flush now, and do not try to catch up
            await self.flush()

    async def flush(self) -> None:
        """Record the heartbeats heard since the last flush, stamped with the time it took them
        (so a flush that is late to commit makes them no older); once committed, tick the
        liveness clock and scale the interval to the fleet."""
        loop = asyncio.get_running_loop()
        taken = self._clock()
        beats, self._beats = self._beats, set()
        lags, self._lags, self._lags_seen = self._lags, [], 0
        self._read_lags.append(max(0.0, statistics.median(lags)) if lags else 0.0)
        started = loop.time()
        if beats:
            self._flushing = frozenset(beats)
            try:
                came_up = await self._store.heartbeat(
                    sorted(beats), _at(taken), lambda h: host_event(h, "host.up")
                )
            except BaseException:
                self._beats |= beats  # not recorded: the next flush records them
                raise
            finally:
                self._flushing = frozenset()
            for h in came_up:
                log.info("host.up", host=h.id)
        self._liveness.tick(taken, beats, self._streams.keys(), self._interval, self.down_after_s)
        took = loop.time() - started
        if took > self._interval / 2:
            log.warning("heartbeats.flush_slow", hosts=len(beats), took_s=round(took, 2))
        self._scale(await self._store.count_up())

    def _scale(self, hosts_up: int) -> None:
        interval = scaled_interval(self._health, hosts_up, self._interval)
        if interval == self._interval:
            return
        log.info(
            "heartbeats.interval_scaled",
            hosts=hosts_up,
            interval_s=interval,
            was_s=self._interval,
            down_after_s=self._health.down_after(interval),
        )
        if interval < self._interval:
            kept = self.down_after_s
            self._previous_window = (kept, self._clock() + kept)
        self._interval = interval
        for listener in self._interval_listeners:
            listener(interval)

    def heard_unrecorded(self) -> set[str]:
        """Hosts this controller heard whose heartbeats are not committed yet: in the buffer, or
        in the flush under way. Alive whatever their recorded heartbeat says: the monitor never
        marks them DOWN (a flush that is slow to commit would otherwise take DOWN hosts it is
        about to record, and mark them UP again when it commits: a flap)."""
        return self._beats | self._flushing

    def heartbeat_window_s(self) -> float:
        """How recent a host's last recorded heartbeat must be for it to count as alive now
        (the monitor and the scheduler both go by it): the down-after window on the liveness
        clock, plus how late this controller reads its agents' messages."""
        window = self.down_after_s
        cutoff = self._liveness.cutoff(window)  # -inf before the first flush
        since = self._clock() - cutoff if math.isfinite(cutoff) else window
        return max(window, since) + max(self._read_lags, default=0.0)

    def behind_s(self) -> float:
        """Seconds by which this controller is behind on its agents' heartbeats: how much
        longer than the down-after window it gives them for its own lag."""
        return max(0.0, self.heartbeat_window_s() - self.down_after_s)

    # -- the host monitor ---------------------------------------------------------------------

    async def monitor(self) -> None:
        """Mark hosts DOWN whose heartbeats stopped (run by the leader only): those silent for
        the window on the liveness clock, in zones the zone guard does not hold."""
        while True:
            await self.sweep()
            await asyncio.sleep(self._interval)

    async def sweep(self) -> None:
        """Mark DOWN the hosts silent for the window on the liveness clock, except those heard
        and not yet recorded (heard_unrecorded) and those of zones held."""
        window = self.down_after_s
        if not self._liveness.covers(window):
            return  # started less than a window ago: agents are still (re)connecting
        behind = self.behind_s()
        if behind > self._interval:
            log.warning(
                "host_monitor.controller_behind", seconds=round(behind, 2), pace=round(self._liveness.pace, 2)
            )
        now = self._clock()
        silent_since = _at(now - self.heartbeat_window_s())
        unheard_since = _at(now - window)
        zones = await self._store.zone_health(silent_since, unheard_since)
        if any(z.silent or z.unheard for z in zones):  # counted again without the hosts heard since
            # (only then: with 10,000 hosts heard, the count takes ~100 ms instead of ~15)
            zones = await self._store.zone_health(silent_since, unheard_since, self.heard_unrecorded())
        verdict = self._zones.judge(zones, self._liveness.now, window)
        self._warn(verdict)
        if verdict.mark:
            for h in await self._store.mark_down_silent(
                silent_since,
                verdict.mark,
                lambda h: host_event(h, "host.down", "missed heartbeats"),
                self.heard_unrecorded(),  # as it is now: hosts heard during zone_health too
            ):
                log.warning("host.down", host=h.id, last_heartbeat=str(h.last_heartbeat))

    def _warn(self, verdict: ZoneVerdict) -> None:
        """One warning per held zone (again every ZONE_REMINDER_S), instead of an event per host."""
        now = self._clock()
        for z in verdict.held:
            last = self._zone_warned.get(z.zone)
            if last is None or now - last >= ZONE_REMINDER_S:
                self._zone_warned[z.zone] = now
                log.warning(
                    "host_monitor.zone_disrupted",
                    zone=z.zone,
                    hosts=z.hosts,
                    down=z.down,
                    unheard=z.unheard,
                    silent=z.silent,
                    unhealthy=round(z.unhealthy, 3),
                    threshold=self._health.unhealthy_zone_threshold,
                    note="silent hosts held UP: more likely the network or this control plane than the hosts",
                )
        for zone in verdict.left:
            self._zone_warned.pop(zone, None)
            log.info("host_monitor.zone_recovered", zone=zone)

    async def get(self, name: str) -> Host:
        return await self._store.get(names.parse_host(name))

    async def list(self, page_size: int, page_token: str) -> tuple[list[Host], str]:
        return await paging.fetch_page(
            page_size,
            page_token,
            "hosts",
            lambda after, limit: self._store.list(after=after, limit=limit),
            lambda h: h.id,
        )

    async def set_enabled(self, name: str, enabled: bool, reason: str, etag: str) -> Host:
        host_id = names.parse_host(name)
        if len(reason) > limits.MAX_DESCRIPTION:
            v = ViolationCollector()
            v.add("reason", f"at most {limits.MAX_DESCRIPTION} characters")
            v.raise_if_any()
        event = "host.enabled" if enabled else "host.disabled"
        return await self._store.set_enabled(
            host_id,
            enabled,
            "" if enabled else reason,
            etag,
            lambda h: host_event(h, event, reason),
        )
